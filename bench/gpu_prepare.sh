#!/usr/bin/env bash
# Here, before a GPU round (issue #18): lay out the git-ignored folders that bench/gpu_compare.sh and
# bench/plans/gpu_calls.sh carry to the device host (bench/README.md's table says what each holds). A fresh
# checkout has none of them, and the host reaches nothing, so this rebuilds them from mirrors, PyPI and
# ../shared/data:
#   .peer/gsplat-v1.5.3/examples, .peer/pycolmap-cc7ea4b, .peer/fused-ssim-328dc98   the peer's code
#   .whl/    py3.12 wheels the host's image lacks (zstandard: the spz stage); gsplat, pycolmap as .tar.xz of unpacked wheels
#   .gpu/    statue_of_liberty_colmap, fox/ and kermit/ photos, and scenes/{fox,kermit}: the SfM model our own
#            frames + sparse_model stages make here (fox: exhaustive matching, as in BENCHMARKS round 2)
#   .gpu9/kermit   images/ + sparse/0/ as real files, for bench/grt_probe_gpu.py
# 3DGRUT's folders (.peer/3dgrut-*, .peer/fused-ssim-1272e21, .whl-grt) come from bench/grt_prepare.sh.
# Mirrors first, with the search tool's fetch (nerfstudio-project/gsplat, rmbrualla/pycolmap,
# rahul-goel/fused-ssim):
#   bash bench/gpu_prepare.sh /work/.mirror/nerfstudio-project+gsplat/repo /work/.mirror/rmbrualla+pycolmap/repo \
#        /work/.mirror/rahul-goel+fused-ssim/repo [../shared/data]
set -euo pipefail
GSPLAT_GIT=$1 PYCOLMAP_GIT=$2 SSIM_GIT=$3
REPO=$(cd "$(dirname "$0")/.." && pwd)
DATA=$(cd "${4:-$REPO/../shared/data}" && pwd)
PY=${PY:-$REPO/.venv/bin/python}
cd "$REPO"

echo "== .peer"
mkdir -p .peer && rm -rf .peer/gsplat-v1.5.3 .peer/pycolmap-cc7ea4b .peer/fused-ssim-328dc98
mkdir -p .peer/gsplat-v1.5.3 .peer/pycolmap-cc7ea4b .peer/fused-ssim-328dc98
git -C "$GSPLAT_GIT" archive v1.5.3 examples | tar -x -C .peer/gsplat-v1.5.3
git -C "$PYCOLMAP_GIT" archive cc7ea4b7301720ac29287dbe450952511b32125e | tar -x -C .peer/pycolmap-cc7ea4b
git -C "$SSIM_GIT" archive 328dc9836f513d00c4b5bc38fe30478b4435cbb5 -- . ':!images' | tar -x -C .peer/fused-ssim-328dc98

echo "== .whl"
# Versions as container/requirements-gpu.txt pins them (tyro's from the nerfstudio lock); the host has torch,
# numpy, opencv, rich, jaxtyping, imageio (device KINDS.md).
pin() { grep -h -i -E "^$1==" container/requirements-gpu.txt container/requirements-nerfstudio-gpu.txt | head -1; }
rm -rf .whl && mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  -d .whl "$(pin gsplat)" "$(pin pycolmap)" "$(pin tyro)" "$(pin docstring-parser)" "$(pin typeguard)" \
  "$(pin splines)" "$(pin plyfile)" "$(pin dagster-pipes)" "$(pin pydantic)" "$(pin pydantic_core)" \
  "$(pin annotated-types)" "$(pin typing-inspection)" "$(pin typing_extensions)" "$(pin zstandard)" shtab==1.8.0
# gsplat (less glm's docs and tests) and pycolmap travel as .tar.xz of their unpacked wheels: half the bytes
for name in gsplat pycolmap; do
  unpack=$(mktemp -d) && unzip -q .whl/"$name"-*.whl -d "$unpack" && rm .whl/"$name"-*.whl
  rm -rf "$unpack"/gsplat/cuda/csrc/third_party/glm/{doc,test}
  tar -cJf ".whl/$name.tar.xz" -C "$unpack" . && rm -rf "$unpack"
done

echo "== .gpu"
rm -rf .gpu && mkdir -p .gpu/scenes
cp -a "$DATA/statue_of_liberty_colmap" .gpu/
mkdir -p .gpu/fox .gpu/kermit && cp -a "$DATA"/fox/images/. .gpu/fox/ && cp -a "$DATA"/kermit/*.jpg .gpu/kermit/
echo '{"matchingMethod": "exhaustive", "softwareName": "colmap"}' > .gpu/fox.sfm.json
for name in fox kermit; do  # our frames + sparse_model stages, as bench/gpu_compare.sh would run them on the host
  work=.work/gpu_prepare/$name
  if [ ! -f "$work/sparse_model/bench-$name/sparse/0/points3D.bin" ]; then  # kept: a re-run skips finished SfM
  rm -rf "$work" && mkdir -p "$work"
  (cd .gpu/$name && zip -q -0 "$REPO/$work/media.zip" -- *)
  sfm=null && [ -f ".gpu/$name.sfm.json" ] && sfm=$(cat ".gpu/$name.sfm.json")
  printf '{"uuid": "bench-%s", "s3": {"bucketName": "bench-local", "inputKey": "media.zip"}, "imageProcessing": {"filterBlurryImages": false}%s}\n' \
    "$name" "$([ "$sfm" = null ] || echo ", \"sfm\": $sfm")" > "$work/job.json"
  echo "SfM for $name ($(ls .gpu/$name | wc -l) photos)"
  PYTHONPATH=$REPO/container:$REPO OMP_NUM_THREADS=2 "$PY" -m gs_stages chain --spec "$work/job.json" \
    --media "$work/media.zip" --root "$work" --stages frames,sparse_model > "$work/sfm.log" 2>&1
  fi
  grep -h "sparse model:" "$work/sfm.log" | tail -1
  mkdir -p .gpu/scenes/$name
  tar -cJf .gpu/scenes/$name/sparse.tar.xz -C "$work/sparse_model/bench-$name" --exclude="*.txt" sparse/0  # .bin only: the carry limit
  cp "$work/frames/bench-$name/manifest.json" .gpu/scenes/$name/frames_manifest.json
done

echo "== .gpu9"
rm -rf .gpu9 && mkdir -p .gpu9/kermit/sparse
cp -a .work/gpu_prepare/kermit/frames/bench-kermit/images .gpu9/kermit/images
cp -a .work/gpu_prepare/kermit/sparse_model/bench-kermit/sparse/0 .gpu9/kermit/sparse/0
du -sh .peer/* .whl .gpu .gpu9
