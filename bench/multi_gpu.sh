#!/usr/bin/env bash
# Issue #19 on the device tool's nvidia-h200-x2: one splat on two GPUs against one, same scene, steps
# (views trained on) and split, back to back. Needs the kit of bench/README.md (`.whl`, `.gpu`) carried.
#   SCENES="fox statue_of_liberty_colmap" STEPS=30000 bash bench/multi_gpu.sh
# Writes $OUT/multi_gpu.md (PSNR, train s, peak GiB per GPU, ratio two/one) and $OUT/multi_gpu.json.
set -u -o pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
OUT=${OUT:-$REPO/.work/multi_gpu}
PY=${PY:-python3}
SCENES=${SCENES:-"fox statue_of_liberty_colmap"}
STEPS=${STEPS:-30000}
PRESET=${PRESET:-splatfacto}
DATA=${DATA:-$REPO/.gpu}
mkdir -p "$OUT"
export PYTHONPATH=$REPO/container:${SITE:-/tmp/site} PYTHONUNBUFFERED=1
for scene in $SCENES; do
  src=$DATA/$scene; [ -d "$DATA/scenes/$scene" ] && src=$DATA/scenes/$scene
  for gpus in 1 2; do
    flag=""; [ "$gpus" = 2 ] && flag="--multi-gpu"
    CUDA_VISIBLE_DEVICES=$([ "$gpus" = 2 ] && echo 0,1 || echo 0) \
      $PY bench/train_bench.py --data "$src" --preset "$PRESET" --steps "$STEPS" --test-every 8 $flag \
      --output "$OUT/$scene-$gpus" >"$OUT/$scene-$gpus.log" 2>&1 | tail -1 >"$OUT/$scene-$gpus.json"
  done
done
$PY - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1]); rows = ["| scene | PSNR 1 / 2 GPUs | train s 1 / 2 (ratio) | peak GiB 1 / 2 |", "|---|---|---|---|"]
for one in sorted(out.glob("*-1.json")):
    two = one.with_name(one.name.replace("-1.json", "-2.json"))
    try:
        a, b = json.loads(one.read_text()), json.loads(two.read_text())
    except Exception as exc:  # a failed run: say so in the table
        rows.append(f"| {one.stem[:-2]} | failed: {exc} | | |"); continue
    rows.append(f"| {one.stem[:-2]} | {a.get('psnr'):.2f} / {b.get('psnr'):.2f} | {a.get('train_s'):.0f} / {b.get('train_s'):.0f} ({b.get('train_s') / a.get('train_s'):.2f}) | {a.get('peak_mem_gib')} / {b.get('peak_mem_gib')} |")
(out / "multi_gpu.md").write_text("\n".join(rows) + "\n"); print("\n".join(rows))
PY
