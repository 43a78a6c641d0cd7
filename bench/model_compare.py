#!/usr/bin/env python3
"""Train several `training.model`s side by side through the splat stage, one JSON line per run (issue #12).

Two kinds of scene:
* `--lens-scene OPENCV_FISHEYE|PINHOLE`: the synthetic ball-in-a-room of the 3dgut acceptance test
  (tests/stages/lens_scenes.py: 24 views of 64x48, a 160-degree fisheye or a 90-degree pinhole), written
  once under `--root`; each run is also judged through the held-out photos' own lens over the whole
  image (`lens_psnr`), as test_splat_3dgut.py judges it;
* `--frames DIR --sparse DIR`: a real capture (frames and sparse_model stage folders), e.g. fox.

    PYTHONPATH=.:container python bench/model_compare.py --lens-scene OPENCV_FISHEYE --steps 300 \\
        --model 3dgut --model splatfacto --override num_downscales=0 --override sh_degree_interval=1000
    PYTHONPATH=.:container python bench/model_compare.py --frames F --sparse S --image-downscale 16 --steps 600 \\
        --backend cpu --model splatfacto --model splatfacto-w-light \\
        --override num_downscales=0 --override warmup_length=100 --override robust_mask_start=100

`--model NAME:FIELD=VALUE,...` adds preset overrides to that run only (e.g. `3dgut:init_scale=1.0`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from gs_stages.cli import run_stage
from tests.stages.jobs import make_spec
from tests.stages.splat_scenes import SyntheticScene


def _overrides(pairs: list[str]) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in (pair.split("=", 1) for pair in pairs if pair)}


def lens_scene(root: Path, model: str) -> SyntheticScene:
    from tests.stages.lens_scenes import make_lens_scene

    folder = root / f"scene-{model}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        make_lens_scene(folder, model, 160.0 if model == "OPENCV_FISHEYE" else 90.0, 24, 64, 48)
        (folder / "done").write_text("")
    return SyntheticScene(folder / "frames", folder / "sparse_model", None, [], 64, 48)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("model_compare"), help="scenes and outputs go here")
    parser.add_argument("--lens-scene", choices=("OPENCV_FISHEYE", "PINHOLE"))
    parser.add_argument("--frames", type=Path)
    parser.add_argument("--sparse", type=Path)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--image-downscale", type=int, default=1)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--override", action="append", default=[], help="FIELD=JSON value, every run")
    args = parser.parse_args(argv)
    if args.lens_scene:
        scene = lens_scene(args.root, args.lens_scene)
        frames, sparse = scene.frames, scene.sparse
    elif args.frames and args.sparse:
        scene, frames, sparse = None, args.frames, args.sparse
    else:
        parser.error("give --lens-scene, or --frames and --sparse")
    for entry in args.model:
        model, _, extra = entry.partition(":")
        overrides = {**_overrides(args.override), **_overrides(extra.split(","))}
        out = args.root / ("out-" + entry.replace(":", "-").replace(",", "-").replace("=", ""))
        shutil.rmtree(out, ignore_errors=True)
        spec = make_spec(**{"training.maxSteps": args.steps, "training.model": model})
        engine = {"device": "cpu", "backend": args.backend, "image_downscale": args.image_downscale}
        started = time.perf_counter()
        m = run_stage(
            "splat", spec, {"frames": frames, "sparse_model": sparse}, out, {**engine, "preset_overrides": overrides}
        )
        record = {
            "model": model,
            "overrides": overrides,
            "steps": args.steps,
            "psnr": m["psnr"],
            "psnr_nerfw": m.get("psnr_nerfw"),
            "ssim": m.get("ssim"),
            "gaussians": m["num_gaussians"],
            "size": [m.get("image_width"), m.get("image_height")],
            "seconds": round(time.perf_counter() - started, 1),
        }
        if scene is not None:
            from tests.stages.test_splat_3dgut import heldout_psnr_through_the_lens

            record["lens_psnr"] = heldout_psnr_through_the_lens(out / "splat.ply", scene)
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
