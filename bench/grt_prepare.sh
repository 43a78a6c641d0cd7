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
git -C "$SSIM_GIT" archive "$SSIM" | tar -x -C "$REPO/.peer/fused-ssim-${SSIM:0:7}"
# what the host's image lacks (its python3 has torch, torchvision, torchmetrics, numpy, scipy, opencv, rich,
# tensorboard, scikit-learn, einops, imageio, msgpack, pyyaml, tqdm: KINDS.md's package list)
rm -rf "$REPO/.whl-grt" && mkdir -p "$REPO/.whl-grt"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$REPO/.whl-grt" slangtorch==1.3.21 $(grep -E '^(hydra-core|omegaconf|plyfile|addict|dataclasses-json|marshmallow|typing-inspect|mypy-extensions|fire|termcolor|kornia|kornia-rs|piexif|simplejpeg|nvidia-ncore|zarr|numcodecs|asciitree|fasteners|universal-pathlib|pathlib-abc|cbor2|deprecated)==' "$REPO/container/requirements-3dgrut-gpu.txt")
"$PY" -m pip wheel -q --no-deps -w "$REPO/.whl-grt" antlr4-python3-runtime==4.9.3   # an sdist: built here
du -sh "$GRUT" "$REPO/.peer/fused-ssim-${SSIM:0:7}" "$REPO/.whl-grt"
