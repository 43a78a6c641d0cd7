#!/usr/bin/env bash
# A GPU round's device calls (issue #18), back to back on one warm machine, from the repository root.
# PLAN names the scheduler's plan (default: session 11's, bench/plans/s11_gpu.json; round 8 ran next_gpu.json).
# GRT_WAIT_TICKS=0 starts item 5 at once (no timed lane to wait for); GRT_PROBE=0 leaves out round 9's probe.
#   call 1, carry .whl .gpu .peer/gsplat-v1.5.3 .peer/pycolmap-cc7ea4b .peer/fused-ssim-328dc98:
#           bash bench/plans/gpu_calls.sh 1   set-up and $PLAN's scheduler (kept running)
#   call 2, carry .whl-grt .peer .gpu9:
#           bash bench/plans/gpu_calls.sh 2   item 5 started in the background (3DGRUT installed, its tracer
#                                             built, bench/grt_probe_gpu.py on kermit: what the tracer draws,
#                                             3dgrt trained on $GRT_SCENES (kermit, fox) with 3DGRUT's log,
#                                             its tests on our input); GRT_AFTER: the lane-0 run it waits for,
#                                             while the scheduler's results are collected
#   call 3: bash bench/plans/gpu_calls.sh 3   collect both; end the scheduler (LAST=1 in call 2 ends it there)
#           (carry .gpu9 .peer again in call 3 while 3dgrt still trains: a folder carried before is gone from a call
#           that does not name it; round 9's probe lost .gpu9 so)
# The background work outlives a call only while the machine stays warm (30 s idle), so chain the calls.
set -u
export STATE=/tmp/gsbench SITE=/tmp/site PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0
PLAN=${PLAN:-bench/plans/s11_gpu.json} MAX_S=${MAX_S:-540} GRT=$STATE/grt_pipeline
OUT=${OUT:-.work/gpu_calls}; mkdir -p "$OUT"
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  [ -f $STATE/scheduler.pid ] && echo "warm machine: earlier state kept"; } > "$OUT/machine_$1.txt" 2>&1
collect() {
  python3 bench/gpu_queue.py go $PLAN --max-s "$1" > "$OUT/go_$2.log" 2>&1
  cp "$STATE/setup_out/gpu_compare.log" "$OUT/" 2>/dev/null; tail -n 40 "$OUT/go_$2.log"
}
grt_pipeline() {  # item 5, as bench/plans/h200_s9_grt.sh does on a fresh machine, in its own site
  mkdir -p "$GRT"; local t0 w; t0=$(date +%s)
  for w in $(seq "${GRT_WAIT_TICKS:-12}"); do [ -f "$STATE/runs/${GRT_AFTER:-fox__7000__peer__mcmc-ut}.json" ] && break; sleep 10; done  # lane 0 timed alone
  echo "lane 0 done or ${GRT_WAIT_TICKS:-12}0 s waited: start at $(($(date +%s) - t0)) s" >> "$GRT/timeline.txt"; t0=$(date +%s)
  SITE=/tmp/site-grt bash bench/grt_setup.sh > "$GRT/grt_setup.json" 2> "$GRT/grt_setup.log"
  echo "grt_setup rc=$? at $(($(date +%s) - t0)) s" >> "$GRT/timeline.txt"; cp $STATE/grt/build.json "$GRT/" 2>/dev/null
  export PYTHONPATH=$STATE/grt/src:$PWD/container:/tmp/site-grt:$SITE
  if [ -f "$STATE/grt/build.json" ]; then
    if [ "${GRT_PROBE:-1}" = 1 ]; then  # GRT_PROBE=0: no probe (round 9 ran it; 3dgrt's training is what is left)
      timeout 300 python3 bench/grt_probe_gpu.py --data .gpu9/kermit --work "$GRT/probe" --steps 300 \
        > "$GRT/probe.json" 2> "$GRT/probe.log"
      echo "probe rc=$? at $(($(date +%s) - t0)) s" >> "$GRT/timeline.txt"
    fi
    for scene in ${GRT_SCENES:-.gpu9/kermit $STATE/scenes/fox}; do  # fox as call 1's set-up laid it out
      name=$(basename "$scene")
      timeout 600 python3 bench/grt_bench.py --data "$scene" --steps 7000 --output "$STATE/${name}_grt" \
        > "$GRT/grt_$name.log" 2>&1
      echo "grt_bench $name rc=$? at $(($(date +%s) - t0)) s" >> "$GRT/timeline.txt"
      cp "$STATE/${name}_grt/splat/metrics.json" "$GRT/${name}_metrics.json" 2>/dev/null
    done
  fi
  GS_3DGRUT_PYTHON=$(command -v python3) PYTHONPATH=$PYTHONPATH:$PWD timeout 600 python3 -m pytest -q -p no:cacheprovider \
    tests/stages/test_grt_with_3dgrut.py > "$GRT/grt_tests.log" 2>&1
  echo "grt tests rc=$? at $(($(date +%s) - t0)) s" >> "$GRT/timeline.txt"
}
show_grt() {  # one file back (the tool returns at most 8): 3DGRUT's logs, results and the probe's images
  tar czf "$OUT/grt.tgz" -C "$GRT" --exclude=probe/data --exclude=probe/runs . 2>/dev/null
  cat "$GRT/timeline.txt" "$GRT/grt_setup.json" 2>/dev/null; grep -a '"scene"' "$GRT/probe.json" 2>/dev/null | cut -c1-3000
  tail -n 4 "$GRT"/*.log 2>/dev/null; }
case $1 in
  1) collect "$MAX_S" 1 ;;
  2) export -f grt_pipeline; export GRT; setsid nohup bash -c grt_pipeline > /dev/null 2>&1 &
     collect "$MAX_S" 2; show_grt
     [ -n "${LAST:-}" ] && [ -f $STATE/scheduler.pid ] && kill -- -"$(cat $STATE/scheduler.pid)" 2>/dev/null ;;
  3) collect "$MAX_S" 3; show_grt
     [ -f $STATE/scheduler.pid ] && kill -- -"$(cat $STATE/scheduler.pid)" 2>/dev/null ;;
esac
( cd "$STATE" && tar czf - logs 2>/dev/null ) > "$OUT/logs_$1.tgz"
ls -la "$OUT"
