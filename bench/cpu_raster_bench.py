#!/usr/bin/env python3
"""Side by side: training steps of the CPU trainer (compiled kernels) and of the baseline, same run.

The machine is shared, so absolute speeds swing with other people's load; this script interleaves the
trainers in blocks of `--block` steps (both see the same load at the same time) and reports the
median seconds per step of each, their ratio, and each one's held-out PSNR after `--steps` steps.
The baseline (`torch`) is the CPU trainer as it was before the compiled kernels: the PyTorch renderer and
SSIM with the full 11x11 window (`full_window_ssim`, kept here for that comparison only); `cpu` is the
trainer as the stage runs it on a CPU (compiled rasterizer and SSIM). `--backends cpu` runs one trainer
alone: its absolute speed, and the process's peak RSS is that trainer's (with both, it is the larger one).
`step_size` is the resolution the steps ran at (the preset starts at 1/4 size: `num_downscales=0` trains
at full size from the first step).

    PYTHONPATH=.:container python bench/cpu_raster_bench.py --data /tmp/kermit --downscale 2 --steps 300 \
        --override num_downscales=0 --threads 2
"""

# ruff: noqa: E402  (OpenMP's wait policy is set before torch is imported)
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gs_stages.openmp import prefer_passive_wait

prefer_passive_wait()  # as the stage's process does, before torch loads OpenMP

import torch
import torch.nn.functional as F

from gs_stages.splat import presets
from gs_stages.splat.backend import pick_renderer
from gs_stages.splat.densify import make_strategy
from gs_stages.splat.evaluate import eval_background, evaluate
from gs_stages.splat.scene import load_scene
from gs_stages.splat.settings import EngineSettings
from gs_stages.splat.train import Trainer

BACKENDS = ("cpu", "torch")


def full_window_ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The SSIM the baseline trainer used: five depthwise convolutions with the 2D 11x11 window."""
    x, y = prediction.permute(2, 0, 1)[None].float(), target.permute(2, 0, 1)[None].float()
    t = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-(t**2) / (2 * 1.5**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(3, 1, 11, 11).contiguous()

    def blur(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, kernel, groups=3)

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2, blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))).mean()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="COLMAP layout: DIR/images and DIR/sparse/0")
    parser.add_argument("--downscale", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--block", type=int, default=10, help="steps of one backend before switching")
    parser.add_argument("--preset", default="splatfacto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--override", action="append", default=[], metavar="FIELD=JSON", help="preset field")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="cpu,torch (default), or one of them")
    args = parser.parse_args(argv)
    backends = tuple(b for b in args.backends.split(",") if b)
    if not backends or set(backends) - set(BACKENDS):
        parser.error(f"--backends takes {', '.join(BACKENDS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    data = Path(args.data)
    scene = load_scene(data, data, None, args.downscale, 8, "crop", 640)
    preset = presets.resolve(args.preset, {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.override)})
    times: dict[str, list[float]] = {b: [] for b in backends}
    with tempfile.TemporaryDirectory() as scratch:
        trainers = {}
        for backend in backends:
            settings = EngineSettings.from_mapping({"backend": backend, "checkpoint_every": 0})
            _, renderer = pick_renderer(backend, device)
            torch.manual_seed(settings.seed)
            trainer = Trainer(scene, preset, settings, renderer, device, Path(scratch) / backend)
            trainer.strategy = make_strategy(preset, len(scene.train), trainer.generator, "builtin", args.steps)
            trainer.start()
            if backend == "torch":
                trainer.ssim = full_window_ssim
            trainers[backend] = trainer
        for first in range(0, args.steps, args.block):
            for backend, trainer in trainers.items():
                for step in range(first, min(first + args.block, args.steps)):
                    clock = time.perf_counter()
                    trainer.train_step(step, args.steps)
                    times[backend].append(time.perf_counter() - clock)
        result = {
            "scene": str(data),
            "size": [scene.train[0].width, scene.train[0].height],
            "steps": args.steps,
            "step_size": [trainer.view(0, trainer.downscale(0)).width, trainer.view(0, trainer.downscale(0)).height],
            "threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "overrides": args.override,
        }
        for backend, trainer in trainers.items():
            sh_degree = trainer.sh_degree(args.steps)
            background = eval_background(preset, device)
            evaluation = evaluate(trainer.params, scene.test, trainer.renderer, preset, sh_degree, None, 0, background)
            median = statistics.median(times[backend])
            result[backend] = {
                "median_step_s": round(median, 5),
                "steps_per_s": round(1 / median, 2),
                "total_s": round(sum(times[backend]), 2),
                "psnr": round(evaluation.psnr, 3) if evaluation.psnr is not None else None,
                "gaussians": len(trainer.params["means"]),
            }
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if len(backends) == 2:
            result["speedup_median"] = round(result["torch"]["median_step_s"] / result["cpu"]["median_step_s"], 2)
            result["speedup_total"] = round(result["torch"]["total_s"] / result["cpu"]["total_s"], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
