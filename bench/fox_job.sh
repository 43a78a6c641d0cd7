#!/usr/bin/env bash
# The whole fox job (frames -> masks -> sparse_model -> splat -> spz) through the stage CLI, timed.
#   bash bench/fox_job.sh [priors|sfm|defaults]   (FOX=<dir with images/ and transforms.json>, STEPS=7000,
#   PYTHON=<interpreter with gs_stages[engine]>, default python3; e.g. PYTHON=.venv/bin/python)
# The fox data: ../shared/data/fox beside the clone, or .gpu/fox on the GPU host (the default FOX).
# priors: the zip carries transforms.json (OpenGL, camera-to-world); sfm: exhaustive + incremental SfM;
# defaults: the job JSON's SfM defaults (sequential matching + global mapper).
# SETTINGS="name=json ..." adds engine settings (`--setting`), TAG names the variant.
# Writes the stages' metrics as one JSON to ${OUT:-/tmp}/fox_job_<mode>[_<tag>].json.
set -eu
MODE=${1:-priors}; FOX=${FOX:-.gpu/fox}; STEPS=${STEPS:-7000}; OUT=${OUT:-/tmp}
NAME=$MODE${TAG:+_$TAG}; W=/tmp/fox-job-$NAME
EXTRA=(); for s in ${SETTINGS:-}; do EXTRA+=(--setting "$s"); done
PYTHON=${PYTHON:-python3}
case $MODE in priors|sfm|defaults) ;; *) echo "usage: $0 [priors|sfm|defaults]" >&2; exit 2 ;; esac
if ! compgen -G "$FOX/images/*.jpg" > /dev/null; then
  echo "error: no fox images in $FOX/images (FOX=$FOX): set FOX to the fox data, ../shared/data/fox beside" \
    "the clone (FOX=../shared/data/fox) or .gpu/fox on the GPU host" >&2
  exit 2
fi
if [ "$MODE" = priors ] && [ ! -f "$FOX/transforms.json" ]; then
  echo "error: the priors mode needs $FOX/transforms.json (or run: $0 sfm)" >&2
  exit 2
fi
rm -rf "$W"; mkdir -p "$W"
"$PYTHON" - "$MODE" "$FOX" "$W" "$STEPS" <<'PY'
import json, sys, zipfile
from pathlib import Path
mode, fox, work, steps = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
with zipfile.ZipFile(work / "media.zip", "w", zipfile.ZIP_STORED) as z:
    if mode == "priors":
        z.write(fox / "transforms.json", "transforms.json")
    for p in sorted((fox / "images").glob("*.jpg")):
        z.write(p, f"images/{p.name}")
sfm = {"matchingMethod": "exhaustive"}
if mode == "defaults":
    sfm = {}
elif mode == "priors":
    sfm["posePriors"] = {"usePosePriorTransformJson": {
        "enable": True, "sourceCoordinateName": "opengl", "poseIsWorldToCam": False}}
elif mode == "sfm":
    sfm["softwareName"] = "colmap"
job = {"uuid": f"fox-{mode}", "s3": {"bucketName": "bench-local", "inputKey": "media.zip"},
       "imageProcessing": {"filterBlurryImages": False}, "sfm": sfm,
       "training": {"maxSteps": steps, "model": "splatfacto"}}
(work / "job.json").write_text(json.dumps(job))
PY
t=$(date +%s%N)
"$PYTHON" -m gs_stages chain --spec "$W/job.json" --media "$W/media.zip" --root "$W" \
  --stages frames,masks,sparse_model,splat,spz ${EXTRA[@]+"${EXTRA[@]}"} > "$W/job.log" 2>&1 || { tail -20 "$W/job.log"; exit 1; }
wall_ms=$(( ($(date +%s%N) - t) / 1000000 ))
"$PYTHON" - "$W" "fox-$MODE" "$wall_ms" <<'PY' | tee "$OUT/fox_job_$NAME.json"
import json, sys
from pathlib import Path
work, uuid, wall_ms = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
out = {"wall_s": wall_ms / 1000}
for stage in ("frames", "masks", "sparse_model", "splat", "spz"):
    metrics = json.loads((work / stage / uuid / "metrics.json").read_text())
    metrics.pop("per_view", None)
    out[stage] = metrics
print(json.dumps(out, indent=1))
PY
