#!/usr/bin/env bash
# On the GPU host (issue #18 item 5): NVIDIA 3DGRUT as container/Dockerfile builds it, from what
# bench/grt_prepare.sh laid out (carry .peer and .whl-grt), into $SITE and $STATE; then the tracer compiled
# by grt_run.py --build with the render settings jobs run with (tracer_config.json), timed: the compile
# the image saves every job. Differences from the image, all forced by the host: its python3's torch
# 2.11 cu130 and nvcc 13.0 (the image: torch 2.10 cu128, nvcc 12.8), slangc from slangtorch (the image:
# Slang's release of the version 3DGRUT names), 3DGRUT on PYTHONPATH (the image: installed editable).
# Prints one JSON line: build seconds, versions, and whether the driver's OptiX library is there.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${STATE:-/tmp/gsbench} SITE=${SITE:-/tmp/site} PY=${PY:-python3}
GRUT=$(ls -d "$REPO"/.peer/3dgrut-*) SSIM=$(ls -d "$REPO"/.peer/fused-ssim-1272e21)
mkdir -p "$STATE/grt" "$SITE"
if [ ! -f "$STATE/grt/installed" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$REPO"/.whl-grt/*.whl
  rm -rf "$STATE/grt/src" && cp -a "$GRUT" "$STATE/grt/src"   # the tracer writes its generated header into it
  PYTHONPATH=$SITE $PY -m pip install -q --no-deps --no-build-isolation --target "$SITE" "$SSIM"
  touch "$STATE/grt/installed"
fi
export PYTHONPATH=$STATE/grt/src:$REPO/container:$SITE TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export TORCH_EXTENSIONS_DIR=$STATE/torch_extensions
started=$(date +%s.%N)
$PY "$REPO/container/gs_stages/grt/grt_run.py" --build "$REPO/container/gs_stages/grt/tracer_config.json" "$STATE/grt/build.json"
$PY -c "import threedgrut.trainer, threedgrt_tracer.lib3dgrt_cc, fused_ssim"
optix=$(ldconfig -p | grep -c libnvoptix || true)
[ "$optix" != 0 ] || optix=$(find / -name 'libnvoptix.so*' 2>/dev/null | head -1 || true)
$PY - "$started" "$optix" "$STATE/grt/build.json" <<'PY'
import json, subprocess, sys, time, torch
started, optix, built = float(sys.argv[1]), sys.argv[2], sys.argv[3]
build = json.load(open(built))
nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1:]
print(json.dumps({"key": "grt_build", "build_seconds": build.get("build_seconds"), "wall_s": round(time.time() - started, 1),
                  "torch": torch.__version__, "nvcc": nvcc, "gpu": torch.cuda.get_device_name(0), "optix_library": optix}))
PY
