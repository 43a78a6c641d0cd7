#!/usr/bin/env bash
# Peer comparison on the GPU host (issue #5): gsplat v1.5.3 examples/simple_trainer.py (modes default,
# mcmc) against our trainer (bench/train_bench.py, presets splatfacto, splatfacto-mcmc) on the same
# scenes, steps, full resolution (data factor 1) and split (every 8th image held out), back to back.
#
# Run from the repository root on the GPU host, with the git-ignored folders carried (bench/README.md):
#   .whl/  wheels for what the host lacks; gsplat 1.5.3 (without glm's docs/tests) and pycolmap 4.2.1
#          travel as .tar.xz of their unpacked wheels (smaller) and are untarred into $SITE
#   .peer/ gsplat-v1.5.3/examples, pycolmap-cc7ea4b (the peer's COLMAP reader), fused-ssim-328dc98
#   .gpu/  data: statue_of_liberty_colmap/{images,sparse/0}; fox/, kermit/ (the original photos) and
#          scenes/<name>/{sparse.tar.xz,frames_manifest.json}: the model our frames + sparse_model stages made
#          from them beforehand (its frame names are linked to the originals); without scenes/<name>,
#          the stages run here on the photos first (with the job's defaults, or the sfm block in <name>.sfm.json)
#
#   bash bench/gpu_compare.sh
#
# One device call may run 10 minutes, less than the whole benchmark. Everything is kept under $STATE
# (/tmp/gsbench), so calling the same command again on the still-warm machine skips the set-up and the
# runs already done, and continues; each call writes ALL results gathered so far to $OUT:
#   compare.md (ours, theirs, ratio), results.json (one object per run), runs.tgz (one JSON and a
#   log tail per run, SfM metrics), setup.log, gpu_compare.log
# A run cut short by the call's budget is retried by the next call; a failed one is not.
#
# Knobs (environment):
#   SCENES="statue_of_liberty_colmap kermit fox"  STEPS="7000" (e.g. "7000 30000")
#   PAIRS="default:splatfacto mcmc:splatfacto-mcmc" (peer mode:our preset)  SIDES="peer ours"
#   BUDGET_S=560 (stop starting runs after this)  MIN_RUN_S=90 (no run starts with less left)
#   RUN_TIMEOUT_S=1800  SFM_TIMEOUT_S=300  STATE=/tmp/gsbench  SITE=/tmp/site  PY=python3
#   OURS_CMD (below)  FRESH=1 forgets earlier results in $STATE
#   SKIP_SETUP=1, PEER_EXTRA=--dry-run: a smoke test of the flow without a GPU (no training)
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
T0=$(date +%s)
PY=${PY:-python3}
STATE=${STATE:-/tmp/gsbench}
SITE=${SITE:-/tmp/site}
OUT=${OUT:-$REPO/.work/gpu_compare}
DATA=${DATA:-$REPO/.gpu}
PEER=${PEER:-$REPO/.peer}
SCENES=${SCENES-"statue_of_liberty_colmap kermit fox"}
STEPS=${STEPS:-7000}
PAIRS=${PAIRS:-"default:splatfacto mcmc:splatfacto-mcmc"}
SIDES=${SIDES-"peer ours"}
BUDGET_S=${BUDGET_S:-560}
MIN_RUN_S=${MIN_RUN_S:-90}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-1800}
SFM_TIMEOUT_S=${SFM_TIMEOUT_S:-300}
TEST_EVERY=8

# ---- OURS: the one line that runs our trainer. {scene} {preset} {steps} {result} are filled in. ----
# >>> PLACEHOLDER: bench/train_bench.py did not exist when this script was written. Check
# >>> `python3 bench/train_bench.py --help` and correct this line (or pass OURS_CMD=... in the env).
# Contract assumed: trains the COLMAP scene {scene} (images/ + sparse/0/) at full resolution for
# {steps} steps with preset {preset}, holds out every 8th image (sorted by name, index % 8 == 0, as
# the peer does), writes under {result}, and prints one JSON object as its last stdout line with at
# least: psnr, ssim, num_gaussians, train_s, peak_mem_gib (see the aliases in summarise() below).
OURS_CMD=${OURS_CMD:-'bench/train_bench.py --data {scene} --preset {preset} --steps {steps} --test-every 8 --output {result}'}

PEER_EXAMPLES=$(ls -d "$PEER"/gsplat-v1.5.3/examples 2>/dev/null)
PEER_PYCOLMAP=$(ls -d "$PEER"/pycolmap-* 2>/dev/null | head -1)
FUSED_SSIM_SRC=$(ls -d "$PEER"/fused-ssim-328dc98 "$PEER"/fused-ssim-* 2>/dev/null | head -1)  # the peer's pin first (3DGRUT's own may sit beside it)

mkdir -p "$OUT" "$STATE"/{runs,logs,results,scenes,sfm}
# Every device call replaces the carried folders in the repository, so a scene linked into .gpu/ vanishes
# for a moment under a run still reading it (the peer reads its photos from disk every step: round 4 lost a
# 30,000-step run to this). Scenes read a private copy, made once per machine.
if [ "$DATA" = "$REPO/.gpu" ]; then
  [ -f "$STATE/data.copied" ] || { rm -rf "$STATE/data" && cp -a "$DATA" "$STATE/data" && touch "$STATE/data.copied"; }
  DATA=$STATE/data
fi
[ "${FRESH:-0}" = 1 ] && rm -rf "$STATE"/runs/* "$STATE"/logs/* "$STATE"/results/*
LOG=$OUT/gpu_compare.log
SETUP_LOG=$STATE/setup.log
log() { echo "[$(date +%H:%M:%S) +$(($(date +%s) - T0))s] $*" | tee -a "$LOG" >&2; }

export PYTHONUNBUFFERED=1
export PYTHONPATH=$REPO/container:$SITE
export TORCH_EXTENSIONS_DIR=$STATE/torch_extensions
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-16}

# ---- set-up (once per machine) ---------------------------------------------------------------------
setup() {
  if [ ! -f "$SITE/.installed" ]; then
    log "installing carried wheels into $SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$REPO"/.whl/*.whl >>"$SETUP_LOG" 2>&1 || { log "wheel install FAILED (see setup.log)"; return 1; }
    for t in "$REPO"/.whl/*.tar.xz; do [ -f "$t" ] && tar -xJf "$t" -C "$SITE"; done
    touch "$SITE/.installed"
  fi
  local pids=()
  if ! "$PY" -c "import fused_ssim" 2>/dev/null; then
    log "building fused-ssim from $FUSED_SSIM_SRC (background)"
    rm -rf "$STATE/fused-ssim-src" && cp -r "$FUSED_SSIM_SRC" "$STATE/fused-ssim-src"
    ( "$PY" -m pip install --no-build-isolation --no-deps --no-index --no-cache-dir --target "$SITE" \
        "$STATE/fused-ssim-src" >"$STATE/fused_ssim_build.log" 2>&1 ) &
    pids+=($!)
  fi
  if [ ! -f "$STATE/.gsplat_warm" ]; then
    log "warming gsplat's JIT build (TORCH_EXTENSIONS_DIR=$TORCH_EXTENSIONS_DIR, MAX_JOBS=$MAX_JOBS)"
    "$PY" - >>"$SETUP_LOG" 2>&1 <<'PYEOF' && touch "$STATE/.gsplat_warm" || log "gsplat warm-up FAILED (see setup.log)"
import time, torch, gsplat
from gsplat.rendering import rasterization
t = time.perf_counter()
dev, n = "cuda", 2000
means = (torch.randn(n, 3, device=dev) * 0.5 + torch.tensor([0.0, 0.0, 4.0], device=dev)).requires_grad_()
quats = torch.randn(n, 4, device=dev)
scales = torch.rand(n, 3, device=dev) * 0.05
opacities = torch.rand(n, device=dev)
colors = torch.rand(n, 3, device=dev)
viewmats = torch.eye(4, device=dev)[None]
Ks = torch.tensor([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]], device=dev)[None]
img, alpha, meta = rasterization(means, quats, scales, opacities, colors, viewmats, Ks, 64, 64)
img.sum().backward()
torch.cuda.synchronize()
print(f"gsplat {gsplat.__version__} JIT + first rasterization: {time.perf_counter() - t:.1f} s;",
      "torch", torch.__version__, torch.cuda.get_device_name(0), "grad ok:", bool(means.grad.abs().sum() > 0))
PYEOF
  fi
  for p in ${pids[@]+"${pids[@]}"}; do wait "$p" || log "fused-ssim build FAILED (see runs.tgz: fused_ssim_build.log)"; done
  "$PY" - >>"$SETUP_LOG" 2>&1 <<'PYEOF' || log "import check failed (see setup.log)"
import importlib
for name in ("torch", "gsplat", "fused_ssim", "tyro", "pycolmap", "plyfile", "pydantic", "dagster_pipes", "splines"):
    try:
        m = importlib.import_module(name)
        print("import ok", name, getattr(m, "__version__", ""), getattr(m, "__file__", ""))
    except Exception as e:  # noqa: BLE001
        print("import FAILED", name, repr(e))
import torch
from fused_ssim import fused_ssim
a = torch.rand(1, 3, 32, 32, device="cuda")
print("fused_ssim(a, a) =", float(fused_ssim(a, a)))
PYEOF
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nvcc --version | tail -1
    df -h /dev/shm /tmp; nproc; } >>"$SETUP_LOG" 2>&1
  log "set-up done"
}

# ---- scenes: COLMAP layout <scene>/images + <scene>/sparse/0 (symlinks) --------------------------
# Echoes the scene directory, or nothing when it cannot be made.
prepare_scene() {
  local name=$1 dst=$STATE/scenes/$1
  if [ -f "$dst/sparse/0/images.bin" ] || [ -f "$dst/sparse/0/images.txt" ]; then echo "$dst"; return; fi
  local src_images="" src_sparse=""
  if [ -d "$DATA/scenes/$name/sparse/0" ] || [ -f "$DATA/scenes/$name/sparse.tar.xz" ]; then
    # made beforehand by our frames + sparse_model stages; sparse/0 may travel as sparse.tar.xz
    src_images=$DATA/scenes/$name/images; src_sparse=$DATA/scenes/$name/sparse/0
    if [ ! -d "$src_sparse" ]; then
      mkdir -p "$STATE/frames/$name" && tar -xJf "$DATA/scenes/$name/sparse.tar.xz" -C "$STATE/frames/$name" || return
      src_sparse=$STATE/frames/$name/sparse/0
    fi
    if [ ! -d "$src_images" ] && [ -f "$DATA/scenes/$name/frames_manifest.json" ]; then
      # The model names the frames stage's files (000000.jpg ...); link them to the carried originals
      # (same pixels size: the stage re-encoded them at full size), so the frames need not travel twice.
      src_images=$STATE/frames/$name/images
      "$PY" - "$DATA/scenes/$name/frames_manifest.json" "$DATA/$name" "$src_images" <<'PYEOF' >>"$LOG" 2>&1 || return
import json, os, sys
from pathlib import Path
manifest, raw, dst = json.load(open(sys.argv[1])), Path(sys.argv[2]), Path(sys.argv[3])
by_name = {p.name: p.resolve() for p in raw.rglob("*") if p.is_file()}
dst.mkdir(parents=True, exist_ok=True)
for frame in manifest["frames"]:
    assert frame["width"] == frame["source_width"], f"{frame['name']} was resized by the frames stage"
    link = dst / frame["name"]
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(by_name[Path(frame["source"]).name], link)
print(f"{raw.name}: {len(manifest['frames'])} frame names linked to the original images")
PYEOF
    fi
  elif [ -d "$DATA/$name/sparse/0" ]; then       # a scene that comes with its COLMAP model
    src_images=$DATA/$name/images; src_sparse=$DATA/$name/sparse/0
  elif [ -d "$DATA/$name" ]; then                # raw photos: run our frames + sparse_model stages
    local work=$STATE/sfm/$name uuid=bench-$name
    rm -rf "$work" && mkdir -p "$work"
    "$PY" - "$DATA/$name" "$work" "$uuid" "$DATA/$name.sfm.json" <<'PYEOF' >>"$LOG" 2>&1 || return
import json, sys, zipfile
from pathlib import Path
src, work, uuid, sfm = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
images = sorted(p for p in src.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
with zipfile.ZipFile(work / "media.zip", "w", zipfile.ZIP_STORED) as z:
    for p in images:
        z.write(p, f"images/{p.name}")
job = {"uuid": uuid, "s3": {"bucketName": "bench-local", "inputKey": "media.zip"},
       "imageProcessing": {"filterBlurryImages": False}}
if sfm.is_file():  # <name>.sfm.json beside the photos: the job's sfm block (e.g. fox: exhaustive + colmap)
    job["sfm"] = json.loads(sfm.read_text())
(work / "job.json").write_text(json.dumps(job, indent=2))
print(f"{src.name}: {len(images)} images zipped for the frames stage")
PYEOF
    log "SfM for $name: python -m gs_stages chain --stages frames,sparse_model (timeout ${SFM_TIMEOUT_S}s)"
    local t=$(date +%s)
    timeout -k 10 "$SFM_TIMEOUT_S" "$PY" -m gs_stages chain --spec "$work/job.json" --media "$work/media.zip" \
      --root "$work" --stages frames,sparse_model >"$work/sfm.log" 2>&1
    local rc=$?
    log "SfM for $name: rc=$rc in $(($(date +%s) - t)) s"
    [ $rc = 0 ] || { tail -20 "$work/sfm.log" >>"$LOG"; return; }
    src_images=$work/frames/$uuid/images; src_sparse=$work/sparse_model/$uuid/sparse/0
  else
    log "scene $name: no data under $DATA"; return
  fi
  [ -d "$src_images" ] && [ -d "$src_sparse" ] || { log "scene $name: missing $src_images or $src_sparse"; return; }
  mkdir -p "$dst/sparse"
  ln -sfn "$(cd "$src_images" && pwd)" "$dst/images"
  ln -sfn "$(cd "$src_sparse" && pwd)" "$dst/sparse/0"
  echo "$dst"
}

# ---- one run: writes $STATE/runs/<key>.json with status ok | failed | timeout | cut | missing ----
run_one() {
  local key=$1 side=$2 variant=$3 scene_dir=$4 steps=$5
  local res=$STATE/results/$key json=$STATE/runs/$key.json runlog=$STATE/logs/$key.log
  if [ -f "$json" ] && ! grep -q '"status": "\(cut\|missing\)"' "$json"; then log "$key: done before, skipped"; return; fi
  local left=$((T0 + BUDGET_S - $(date +%s)))
  # Expected length: 1.25 x the longest finished run of this scene and step count (either side).
  local need
  need=$("$PY" -c 'import json, pathlib, sys
w = [json.loads(p.read_text()).get("process_wall_s") or 0 for p in pathlib.Path(sys.argv[1]).glob(sys.argv[2] + "__*.json")
     if json.loads(p.read_text()).get("status") == "ok"]
print(int(1.25 * max(w, default=0)))' "$STATE/runs" "${key%__*__*}" 2>/dev/null || echo 0)
  [ "${need:-0}" -lt "$MIN_RUN_S" ] && need=$MIN_RUN_S
  if [ "$left" -lt "$need" ]; then log "$key: ${left}s left, ~${need}s needed: left for the next call"; return; fi
  local limit=$RUN_TIMEOUT_S; [ "$left" -lt "$limit" ] && limit=$left
  rm -rf "$res" && mkdir -p "$res"
  local cmd
  if [ "$side" = peer ]; then
    cmd=("$PY" bench/peer_trainer.py --examples "$PEER_EXAMPLES" --pycolmap "$PEER_PYCOLMAP" --mode "$variant"
         --data-dir "$scene_dir" --result-dir "$res" --steps "$steps" --test-every "$TEST_EVERY" --data-factor 1
         ${PEER_EXTRA:-})
  else
    local line=${OURS_CMD//\{scene\}/$scene_dir}
    line=${line//\{preset\}/$variant}; line=${line//\{steps\}/$steps}; line=${line//\{result\}/$res}
    read -r -a cmd <<<"$PY $line"
    if [ ! -f "${cmd[1]}" ]; then
      log "$key: ${cmd[1]} not found"
      printf '{"key": "%s", "side": "ours", "variant": "%s", "steps": %s, "status": "missing"}\n' \
        "$key" "$variant" "$steps" >"$json"
      return
    fi
  fi
  log "$key: start (limit ${limit}s): ${cmd[*]}"
  local t=$(date +%s%N)
  timeout -k 15 "$limit" "${cmd[@]}" >"$runlog" 2>&1
  local rc=$?
  local wall=$(( ($(date +%s%N) - t) / 1000000 ))
  local status=ok
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    if [ "$limit" -lt "$RUN_TIMEOUT_S" ]; then status=cut; else status=timeout; fi
  elif [ $rc != 0 ]; then status=failed; fi
  "$PY" - "$runlog" "$json" "$key" "$side" "$variant" "$steps" "$scene_dir" "$status" "$rc" "$wall" <<'PYEOF'
import json, sys
runlog, out, key, side, variant, steps, scene, status, rc, wall_ms = sys.argv[1:]
reported = None
for line in reversed(open(runlog, errors="replace").read().splitlines()):
    line = line.strip()
    if line.startswith("{") and line.endswith("}"):
        try:
            reported = json.loads(line)
            break
        except ValueError:
            pass
if status == "ok" and reported is None:
    status = "failed"  # exited 0 but printed no JSON
record = {"key": key, "side": side, "variant": variant, "steps": int(steps), "scene_dir": scene,
          "status": status, "rc": int(rc), "process_wall_s": round(int(wall_ms) / 1000, 2),
          "reported": reported}
json.dump(record, open(out, "w"), indent=2)
PYEOF
  log "$key: $status (rc=$rc) in $((wall / 1000)) s"
}

summarise() {
  "$PY" - "$STATE" "$OUT" "$PAIRS" <<'PYEOF'
import json, math, sys
from pathlib import Path
state, out, pairs = Path(sys.argv[1]), Path(sys.argv[2]), [p.split(":") for p in sys.argv[3].split()]
records = [json.loads(p.read_text()) for p in sorted((state / "runs").glob("*.json"))]
(out / "results.json").write_text(json.dumps(records, indent=2))

# Metric names as the peer wrapper reports them, then aliases our train_bench.py may use.
ALIASES = {
    "psnr": ("psnr", "val_psnr", "eval_psnr"),
    "ssim": ("ssim", "val_ssim", "eval_ssim"),
    "num_gaussians": ("num_gaussians", "num_GS", "n_gaussians", "gaussians"),
    "train_s": ("train_s", "train_seconds", "train_time_s", "elapsed_s", "elapsed"),
    "peak_mem_gib": ("peak_mem_gib", "peak_memory_gib", "max_memory_allocated_gib", "mem_gib"),
}

def pick(rep, metric):
    if not isinstance(rep, dict):
        return None
    scopes = [rep] + [rep[k] for k in ("metrics", "eval", "val", "train", "result") if isinstance(rep.get(k), dict)]
    for scope in scopes:
        for name in ALIASES[metric]:
            v = scope.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                return float(v)
    if metric == "peak_mem_gib":  # accept bytes / MiB variants
        for scope in scopes:
            for name, div in (("peak_mem_bytes", 1024**3), ("peak_memory_bytes", 1024**3), ("peak_mem_mib", 1024)):
                v = scope.get(name)
                if isinstance(v, (int, float)):
                    return float(v) / div
    return None

by_key = {r["key"]: r for r in records}
scenes = sorted({r["key"].split("__")[0] for r in records})
steps = sorted({r["steps"] for r in records if "steps" in r})
fmt = {"psnr": "{:.2f}", "ssim": "{:.4f}", "num_gaussians": "{:,.0f}", "train_s": "{:.1f}",
       "process_wall_s": "{:.1f}", "peak_mem_gib": "{:.2f}"}
lines = ["# gsplat v1.5.3 simple_trainer (theirs) vs bench/train_bench.py (ours)", "",
         "Same scene, steps, full resolution, every 8th image held out. ratio = ours / theirs.",
         "PSNR/SSIM on the held-out images as each side reports them; LPIPS not measured (no weights offline).",
         "train_s: each side's own training-loop time; process_wall_s: the whole process (start-up, data, eval).",
         "", "| scene | steps | ours vs theirs | metric | ours | theirs | ratio |", "|---|---|---|---|---:|---:|---:|"]
for scene in scenes:
    for st in steps:
        for mode, preset in pairs:
            theirs = by_key.get(f"{scene}__{st}__peer__{mode}")
            ours = by_key.get(f"{scene}__{st}__ours__{preset}")
            if theirs is None and ours is None:
                continue
            label = f"{preset} vs {mode}"
            status = [f"{s}: {r['status']}" for s, r in (("ours", ours), ("theirs", theirs)) if r and r["status"] != "ok"]
            if status:
                lines.append(f"| {scene} | {st} | {label} | status | {', '.join(status)} | | |")
            for metric in ("psnr", "ssim", "num_gaussians", "train_s", "process_wall_s", "peak_mem_gib"):
                def val(r):
                    if not r or r["status"] != "ok":
                        return None
                    return r.get("process_wall_s") if metric == "process_wall_s" else pick(r.get("reported"), metric)
                o, t = val(ours), val(theirs)
                ratio = f"{o / t:.3f}" if o is not None and t not in (None, 0) else ""
                show = lambda v: fmt[metric].format(v) if v is not None else "n/a"
                lines.append(f"| {scene} | {st} | {label} | {metric} | {show(o)} | {show(t)} | {ratio} |")
(out / "compare.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
}

# ---- main -------------------------------------------------------------------------------------------
log "gpu_compare: scenes=[$SCENES] steps=[$STEPS] pairs=[$PAIRS] sides=[$SIDES] budget=${BUDGET_S}s state=$STATE"
[ -n "$PEER_EXAMPLES" ] && [ -n "$PEER_PYCOLMAP" ] && [ -n "$FUSED_SSIM_SRC" ] || log "WARNING: .peer/ is incomplete"
if [ "${SKIP_SETUP:-0}" = 1 ]; then log "set-up skipped (SKIP_SETUP=1)"; else setup || log "set-up had errors; continuing"; fi
for scene in $SCENES; do
  if [ $((T0 + BUDGET_S - $(date +%s))) -lt "$MIN_RUN_S" ]; then log "budget spent before $scene"; break; fi
  scene_dir=$(prepare_scene "$scene")
  if [ -z "$scene_dir" ]; then log "scene $scene: not available, skipped"; continue; fi
  for steps in $STEPS; do
    for pair in $PAIRS; do
      mode=${pair%%:*}; preset=${pair##*:}
      for side in $SIDES; do
        if [ "$side" = peer ]; then variant=$mode; else variant=$preset; fi
        run_one "${scene}__${steps}__${side}__${variant}" "$side" "$variant" "$scene_dir" "$steps"
      done
    done
  done
done
summarise >>"$LOG" 2>&1 || log "summary failed"
# Bring back (at most 8 files): the table, all run records, per-run logs (tails), set-up logs.
mkdir -p "$STATE/pack" && rm -rf "$STATE/pack"/*
cp "$STATE"/runs/*.json "$STATE/pack/" 2>/dev/null
for f in "$STATE"/logs/*.log; do [ -f "$f" ] && tail -n 300 "$f" >"$STATE/pack/$(basename "$f")"; done
for d in "$STATE"/sfm/*/; do
  [ -d "$d" ] || continue; n=$(basename "$d")
  tail -n 200 "$d/sfm.log" >"$STATE/pack/sfm_$n.log" 2>/dev/null
  cp "$d"/sparse_model/*/metrics.json "$STATE/pack/sfm_${n}_metrics.json" 2>/dev/null
done
cp "$STATE/fused_ssim_build.log" "$STATE/pack/" 2>/dev/null
tar -czf "$OUT/runs.tgz" -C "$STATE/pack" . 2>/dev/null
cp "$SETUP_LOG" "$OUT/setup.log" 2>/dev/null
log "done; results in $OUT"
