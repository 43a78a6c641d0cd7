#!/usr/bin/env python3
"""Train one COLMAP scene with the splat stage and print its numbers as one JSON line (the last line).

The scene is a COLMAP layout: `--data DIR` holding `images/` and `sparse/0/`, or `--images DIR`
(the image folder itself) and `--sparse DIR` (a folder holding `sparse/0/`, or the model folder).
It runs the real stage (`gs_stages.splat.stage.run` through the CLI's runner), so the numbers are the
stage's own: held-out PSNR/SSIM (every `--test-every`-th image in name order, never trained on),
Gaussian count, training-loop time, peak memory (CUDA max allocated on a GPU). Outputs (splat.ply,
preview.png, metrics.json, the final checkpoint) go to `--output`.

    python bench/train_bench.py --data scenes/fox --preset splatfacto --steps 7000 --output runs/fox

On the GPU host: PYTHONPATH=container, with torch+CUDA, gsplat 1.5.3, pycolmap 4.2.1, opencv, plyfile,
pydantic importable. `--downscale 1` (the default here) trains at full resolution, as gsplat's
`simple_trainer.py --data_factor 1`; the stage's own default is nerfstudio's 1600 px rule.
"""

# ruff: noqa: E402  (OpenMP's wait policy is set before torch is imported)
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from gs_stages.openmp import prefer_passive_wait

prefer_passive_wait()  # as the stage's process does, before torch loads OpenMP

from gs_stages.cli import run_stage
from gs_stages.jobspec import parse_job
from gs_stages.splat.presets import PRESETS


def _layout(args: argparse.Namespace, scratch: Path) -> tuple[Path, Path]:
    """(frames dir with images/, sparse dir with sparse/0/), linking folders given another way."""
    images = Path(args.images) if args.images else Path(args.data) / "images"
    sparse = Path(args.sparse) if args.sparse else Path(args.data)
    if (sparse / "cameras.bin").exists() or (sparse / "cameras.txt").exists():
        (scratch / "sparse").mkdir()
        (scratch / "sparse" / "0").symlink_to(sparse.resolve(), target_is_directory=True)
        sparse = scratch
    if images.name != "images" or not images.is_dir():
        (scratch / "frames").mkdir()
        (scratch / "frames" / "images").symlink_to(images.resolve(), target_is_directory=True)
        return scratch / "frames", sparse
    return images.parent, sparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="COLMAP layout: DIR/images and DIR/sparse/0")
    parser.add_argument("--images", help="image folder (instead of --data)")
    parser.add_argument("--sparse", help="folder holding sparse/0, or the COLMAP model folder (instead of --data)")
    parser.add_argument("--masks", help="masks stage output (masks/ + masks.json), optional")
    parser.add_argument("--preset", default="splatfacto", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=7000)
    parser.add_argument("--test-every", type=int, default=8)
    parser.add_argument("--downscale", default="1", help="image downscale factor, or 'auto'")
    parser.add_argument("--output", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="auto", choices=("auto", "gsplat", "cpu", "torch"))
    parser.add_argument("--strategy-impl", default="builtin", choices=("builtin", "gsplat"))
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--lpips-weights", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="preset field, e.g. num_downscales=0",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='engine setting (settings.py), e.g. ssim="torch" or optimizer="selective_adam"',
    )
    parser.add_argument(
        "--multi-gpu",
        action="store_true",
        help="training.enableMultiGpu: every visible GPU trains the one splat (data_parallel.py)",
    )
    args = parser.parse_args(argv)
    if not args.data and not (args.images and args.sparse):
        parser.error("give --data, or both --images and --sparse")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)

    spec = parse_job(
        {
            "uuid": "train-bench",
            "s3": {"bucketName": "bench-bucket", "inputKey": "bench.zip"},
            "training": {"maxSteps": args.steps, "model": args.preset, "enableMultiGpu": args.multi_gpu},
        }
    )
    settings: dict[str, Any] = {
        "device": args.device,
        "backend": args.backend,
        "image_downscale": args.downscale if args.downscale == "auto" else int(args.downscale),
        "test_every": args.test_every,
        "checkpoint_every": args.checkpoint_every,
        "strategy_impl": args.strategy_impl,
        "seed": args.seed,
        "preset_overrides": {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.override)},
    }
    settings.update({k: json.loads(v) for k, v in (o.split("=", 1) for o in args.setting)})
    if args.lpips_weights:
        settings["lpips_weights"] = args.lpips_weights
    with tempfile.TemporaryDirectory() as scratch:
        frames, sparse = _layout(args, Path(scratch))
        inputs = {"frames": frames, "sparse_model": sparse}
        if args.masks:
            inputs["masks"] = Path(args.masks)
        metrics = run_stage("splat", spec, inputs, Path(args.output), settings)

    summary = {k: v for k, v in metrics.items() if k != "per_view"}
    summary.update(
        preset=args.preset,
        train_s=metrics["train_seconds"],
        peak_mem_gib=metrics["peak_memory_bytes"] / 2**30,
        scene=str(args.data or args.images),
    )
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
