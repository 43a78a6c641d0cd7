#!/usr/bin/env python3
"""3dgrt on one scene through the real splat stage (NVIDIA 3DGRUT as its external trainer), for issue #18.

    python3 bench/grt_bench.py --data /tmp/gsbench/scenes/fox --steps 7000 --output DIR [--grt-python PY]

`--data` is a COLMAP scene folder as bench/gpu_compare.sh lays them out (`images/` and `sparse/0/`): it is
both the frames and the sparse_model stage's folder. The stage writes 3DGRUT's input, runs its training,
.ply export and held-out evaluation (every 8th image in name order, as the peer and our trainer hold
out), and rewrites the splat in our convention; the spz stage then delivers it, so the whole path a job
takes after SfM is timed. Prints one JSON line (gpu_queue.py reads the last one): held-out PSNR/SSIM,
Gaussians, 3DGRUT's train_seconds (training, export and its test pass) and the stages' wall times.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from gs_stages.cli import run_stage
from gs_stages.jobspec import parse_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=7000)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--grt-python", default=sys.executable, help="3DGRUT's Python (default: this one)")
    parser.add_argument("--overrides", default="[]", help="engine setting grt_overrides, as JSON")
    args = parser.parse_args(argv)
    # the stage log carries 3DGRUT's own output (run_logged): without a handler a failed round returns no trace
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    spec = parse_job(
        {
            "uuid": "grt-bench",
            "s3": {"bucketName": "bench", "inputKey": "grt-bench.zip"},
            "training": {"model": "3dgrt", "maxSteps": args.steps},
        }
    )
    settings = {"device": "cuda", "grt_python": args.grt_python, "grt_overrides": json.loads(args.overrides)}
    inputs = {"frames": args.data, "sparse_model": args.data}
    started = time.perf_counter()
    splat = run_stage("splat", spec, inputs, args.output / "splat", settings)
    splat_wall = time.perf_counter() - started
    started = time.perf_counter()
    spz = run_stage("spz", spec, {"splat": args.output / "splat"}, args.output / "spz", {"output_name": "scene"})
    keys = ("psnr", "ssim", "lpips", "num_gaussians", "non_finite_dropped", "train_seconds", "steps", "gpu")
    record = {k: splat.get(k) for k in keys}
    record |= {"splat_wall_s": round(splat_wall, 2), "spz_wall_s": round(time.perf_counter() - started, 2)}
    record |= {"spz_bytes": spz.get("spz_bytes"), "scene": args.data.name, "model": "3dgrt"}
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
