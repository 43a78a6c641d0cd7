#!/usr/bin/env bash
# Here, before the GPU round of issue #18 item 5 (3dgrt): lay out what travels to the GPU host with `carry`.
# The device host reaches nothing, so NVIDIA 3DGRUT's source, its OptiX headers, fused-ssim and the Python
# packages it lacks go with the call, in git-ignored folders:
#   .peer/3dgrut-a37ef72/   3DGRUT at the commit gs_stages/grt/environment.py pins (less assets/ and the
#                           playground), with threedgrt_tracer/dependencies/optix-dev/include from optix-dev
#                           at the submodule commit 3DGRUT records                                   (~3 MB)
#   .peer/fused-ssim-1272e21/  fused-ssim at the commit 3DGRUT's requirements_extra.txt pins           (~4 MB)
#   .whl-grt/               wheels of requirements-3dgrut-gpu.txt's packages the host's image lacks, and
#                           slangtorch (its slangc generates the tracer's header; the image uses Slang's
#                           own release of the version 3DGRUT names instead)                         (~49 MB)
# Mirrors first, with the search tool's fetch: nv-tlabs/3dgrut, NVIDIA/optix-dev, rahul-goel/fused-ssim.
#   bash bench/grt_prepare.sh /work/.mirror/nv-tlabs+3dgrut/repo /work/.mirror/NVIDIA+optix-dev/repo \
#        /work/.mirror/rahul-goel+fused-ssim/repo
set -euo pipefail
GRUT_GIT=$1 OPTIX_GIT=$2 SSIM_GIT=$3
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
COMMIT=$("$PY" -c "import sys; sys.path.insert(0, '$REPO/container'); from gs_stages.grt.environment import GRUT_COMMIT as c; print(c)")
OPTIX=$("$PY" -c "import sys; sys.path.insert(0, '$REPO/container'); from gs_stages.grt.environment import OPTIX_DEV_COMMIT as c; print(c)")
SSIM=1272e21a282342e89537159e4bad508b19b34157
GRUT=$REPO/.peer/3dgrut-${COMMIT:0:7}
rm -rf "$GRUT" && mkdir -p "$GRUT/threedgrt_tracer/dependencies/optix-dev"
git -C "$GRUT_GIT" archive "$COMMIT" -- . ':!assets' ':!threedgrut_playground' | tar -x -C "$GRUT"
test "$(git -C "$GRUT_GIT" ls-tree "$COMMIT" threedgrt_tracer/dependencies/optix-dev | awk '{print $3}')" = "$OPTIX"
git -C "$OPTIX_GIT" archive "$OPTIX" include | tar -x -C "$GRUT/threedgrt_tracer/dependencies/optix-dev"
rm -rf "$REPO/.peer/fused-ssim-${SSIM:0:7}" && mkdir -p "$REPO/.peer/fused-ssim-${SSIM:0:7}"
git -C "$SSIM_GIT" archive "$SSIM" -- . ':!images' | tar -x -C "$REPO/.peer/fused-ssim-${SSIM:0:7}"
# what the host's image lacks (its python3 has torch, torchvision, torchmetrics, numpy, scipy, opencv, rich,
# tensorboard, scikit-learn, einops, imageio, msgpack, pyyaml, tqdm: KINDS.md's package list)
rm -rf "$REPO/.whl-grt" && mkdir -p "$REPO/.whl-grt"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$REPO/.whl-grt" slangtorch==1.3.20 $(grep -E '^(hydra-core|omegaconf|plyfile|addict|dataclasses-json|marshmallow|typing-inspect|mypy-extensions|fire|termcolor|kornia|kornia-rs|piexif|simplejpeg|nvidia-ncore|zarr|numcodecs|asciitree|fasteners|universal-pathlib|pathlib-abc|cbor2|deprecated)==' "$REPO/container/requirements-3dgrut-gpu.txt")
"$PY" -m pip wheel -q --no-deps -w "$REPO/.whl-grt" antlr4-python3-runtime==4.9.3   # an sdist: built here
# pytest, for tests/stages/test_grt_with_3dgrut.py on the host (its image's python3 has none)
"$PY" -m pip download -q --no-deps --only-binary=:all: --platform any -d "$REPO/.whl-grt" pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1
# slangtorch's wheel carries Windows binaries too (half its size): keep the Linux ones only
"$PY" - "$REPO"/.whl-grt/slangtorch-*.whl <<'PYEOF'
import sys, zipfile
from pathlib import Path
wheel = Path(sys.argv[1]); slim = wheel.with_suffix(".slim")
with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
    drop = {n for n in zin.namelist() if n.endswith((".dll", ".exe"))}
    for item in zin.infolist():
        if item.filename not in drop:
            data = zin.read(item.filename)
            if item.filename.endswith("RECORD"):
                data = "".join(f"{line}\n" for line in data.decode().splitlines() if line.split(",")[0] not in drop).encode()
            zout.writestr(item, data)
slim.replace(wheel)
PYEOF
# The tracer's header must compile with this slangc, or the GPU call fails minutes in (session 9: slangtorch 1.3.21's
# Slang 2026.12.2 refuses gaussianParticles.slang, 1.3.20's 2026.4.1 takes it, 3DGRUT names 2026.5.2): check it here.
CHECK=$(mktemp -d) && unzip -q "$REPO"/.whl-grt/slangtorch-*.whl 'slangtorch/bin/*' -d "$CHECK" && chmod +x "$CHECK"/slangtorch/bin/slangc
INC=$GRUT/threedgrt_tracer/include
LD_LIBRARY_PATH=$CHECK/slangtorch/bin "$CHECK"/slangtorch/bin/slangc -target cuda -I "$INC" -line-directive-mode none \
  -matrix-layout-row-major -O2 -DPARTICLE_RADIANCE_NUM_COEFFS=16 -DGAUSSIAN_PARTICLE_KERNEL_DEGREE=2 \
  -DGAUSSIAN_PARTICLE_MIN_KERNEL_DENSITY=0.0113 -DGAUSSIAN_PARTICLE_MIN_ALPHA=0.00392156862745098 \
  -DGAUSSIAN_PARTICLE_MAX_ALPHA=0.99 -DGAUSSIAN_PARTICLE_ENABLE_NORMAL=false -DGAUSSIAN_PARTICLE_SURFEL=false \
  -DPARTICLE_FEATURE_DIM=48 -DRAY_FEATURE_DIM=3 -DFEATURE_TRANSFORM_TYPE=0 -DFEATURE_INTERPOLATION_TYPE=0 \
  -DFEATURE_INTERPOLATION_SUPPORT=0 -DFEATURE_ACTIVATION_TYPE=0 -DFEATURE_ACTIVATION_NUM_FREQUENCIES=1 \
  -DINTERP_POINT_FEATURE_DIM=3 -DPARTICLE_FEATURE_HALF=0 -DFEATURE_OUTPUT_HALF=0 \
  "$INC"/3dgrt/kernels/slang/models/gaussianParticles.slang "$INC"/3dgrt/kernels/slang/models/radiativeParticles.slang \
  -o "$CHECK"/gaussianParticles.cuh 2>"$CHECK"/slangc.log || { grep 'error' "$CHECK"/slangc.log; echo "slangc cannot build the tracer's header" >&2; exit 1; }
echo "slangc check: $(wc -c <"$CHECK"/gaussianParticles.cuh) bytes of header"; rm -rf "$CHECK"
du -sh "$GRUT" "$REPO/.peer/fused-ssim-${SSIM:0:7}" "$REPO/.whl-grt"
