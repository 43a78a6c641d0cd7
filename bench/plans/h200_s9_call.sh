#!/usr/bin/env bash
# Session 9's device calls for bench/plans/h200_s9.json (issue #18), from the repository root on the H200 host.
#   call 1, carry .whl .gpu .peer/gsplat-v1.5.3 .peer/pycolmap-cc7ea4b .peer/fused-ssim-328dc98:
#           bash bench/plans/h200_s9_call.sh 1      set-up and the scheduler, kept running after the call
#   call 2 (at once, same warm machine), carry .whl-grt .peer:
#           bash bench/plans/h200_s9_call.sh 2      NVIDIA 3DGRUT installed in /tmp/site-grt and its tracer built
#                                                   while the scheduler goes on; on a cold machine only the build
#                                                   and 3DGRUT's tests on our input run
#   call 3: bash bench/plans/h200_s9_call.sh 3      collect what is left, end the scheduler
set -u
export STATE=/tmp/gsbench SITE=/tmp/site PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=9.0
PLAN=${PLAN:-bench/plans/h200_s9.json} MAX_S=${MAX_S:-540}
OUT=${OUT:-.work/h200_s9}; mkdir -p "$OUT"
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; nproc
  [ -f $STATE/scheduler.pid ] && echo "warm machine: earlier state kept"; } > "$OUT/machine_$1.txt" 2>&1
collect() {
  python3 bench/gpu_queue.py go $PLAN --max-s "$1" > "$OUT/go_$2.log" 2>&1
  cp "$STATE/setup_out/gpu_compare.log" "$OUT/" 2>/dev/null; tail -n 30 "$OUT/go_$2.log"
}
case $1 in
  1) collect "$MAX_S" 1 ;;
  2) ( SITE=/tmp/site-grt bash bench/grt_setup.sh > "$OUT/grt_setup.json" 2> "$OUT/grt_setup.log"
       echo "grt_setup rc=$?" >> "$OUT/grt_setup.log"; cp $STATE/grt/build.json "$OUT/" 2>/dev/null ) &
     if [ -f $STATE/scheduler.pid ]; then collect "$MAX_S" 2; else
       echo "cold machine: call 1's state is gone; the build and 3DGRUT's tests only"; wait
       GS_3DGRUT_PYTHON=python3 PYTHONPATH=$STATE/grt/src:$PWD/container:/tmp/site-grt:$PWD python3 -m pytest -q \
         -p no:cacheprovider tests/stages/test_grt_with_3dgrut.py > "$OUT/grt_tests.log" 2>&1; tail -n 20 "$OUT/grt_tests.log"
     fi
     tail -n 5 "$OUT/grt_setup.log"; cat "$OUT/grt_setup.json" ;;
  3) collect "$MAX_S" 3; [ -f $STATE/scheduler.pid ] && kill -- -"$(cat $STATE/scheduler.pid)" 2>/dev/null ;;
esac
ls -la "$OUT"
