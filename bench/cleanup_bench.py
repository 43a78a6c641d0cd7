#!/usr/bin/env python3
"""Floater cleanup, crop and the Gaussian budget on a real scene: Gaussians removed, bytes saved, held-out PSNR.

Trains one splat with the splat stage's own pieces (scene loader, trainer, evaluation), then applies each
cleanup variant to that same trained splat and evaluates it on the held-out views (every `--test-every`-th
image, never trained on, never looked at by cleanup). Sizes are the .ply and .spz our exporters write.
Prints one JSON line per variant and, last, all of them as one JSON document.

    python bench/cleanup_bench.py --frames RUN/frames/JOB --sparse RUN/sparse_model/JOB --steps 1000
    python bench/cleanup_bench.py --frames ... --sparse ... --save-scene kermit.pt   # then, on a GPU host:
    python bench/cleanup_bench.py --scene kermit.pt --steps 7000

`--frames` / `--sparse` are the frames and sparse_model stage outputs of a job (e.g. from
`python -m gs_stages run frames sparse_model ...`); PYTHONPATH=container.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from gs_stages.export.ply import write_ply
from gs_stages.export.spz import write_spz
from gs_stages.splat import presets
from gs_stages.splat.backend import pick_device, pick_renderer
from gs_stages.splat.cleanup import CleanupOptions, cleanup, training_fidelity
from gs_stages.splat.contribution import Contribution, capture_contribution, contribution
from gs_stages.splat.evaluate import eval_background, evaluate, view_psnr
from gs_stages.splat.model import to_gaussians
from gs_stages.splat.scene import load_scene
from gs_stages.splat.settings import EngineSettings
from gs_stages.splat.train import Trainer, TrainResult


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="scene")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--frames", help="the frames stage's output of the job")
    parser.add_argument("--preset", default="splatfacto")
    parser.add_argument("--sparse", help="the sparse_model stage's output of the job")
    parser.add_argument("--test-every", type=int, default=8)
    parser.add_argument("--scene", help="a scene saved with --save-scene, instead of --frames/--sparse")
    parser.add_argument("--max-side", type=int, default=640, help="the longest training image side (CPU draft: 640)")
    parser.add_argument("--save-scene", help="only load the scene and save it here (torch.save), to train elsewhere")
    parser.add_argument("--budget-fraction", type=float, nargs="+", default=[0.5], help="budget variants: shares")
    parser.add_argument("--trained", help="a .pt file: reuse the trained splat saved there, else train and save it")
    parser.add_argument("--train-only", action="store_true", help="stop once the splat is trained (and saved)")
    parser.add_argument("--no-capped", action="store_true", help="skip the second run with the budget while training")
    args = parser.parse_args(argv)

    settings = EngineSettings.from_mapping({"checkpoint_every": 0, "test_every": args.test_every})
    preset = presets.resolve(args.preset)
    device = pick_device(settings.device)
    backend, renderer = pick_renderer(settings.backend, device)
    if args.scene:
        scene = torch.load(args.scene, weights_only=False)
    else:
        scene = load_scene(Path(args.frames), Path(args.sparse), None, "auto", args.test_every, "crop", args.max_side)
    if args.save_scene:
        torch.save(scene, args.save_scene)
        return 0

    def train(preset: presets.Preset) -> tuple[Trainer, object, float]:
        torch.manual_seed(settings.seed)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            trainer = Trainer(scene, preset, settings, renderer, device, Path(scratch) / "ckpt")
            result = trainer.run(args.steps)
        return trainer, result, time.perf_counter() - started

    if args.trained and Path(args.trained).exists():  # the same splat, for variants measured later
        saved = torch.load(args.trained, weights_only=False)
        result, train_s = TrainResult(saved["params"], saved["steps"], None, saved["train_s"]), saved["train_s"]
    else:
        _, result, train_s = train(preset)
        if args.trained:
            torch.save({"params": result.params, "steps": result.steps, "train_s": train_s}, args.trained)
    if args.train_only:
        return 0
    sh_degree = min(result.steps // preset.sh_degree_interval, preset.sh_degree)  # Trainer.sh_degree
    background = eval_background(preset, device)
    trained = result.params
    n = len(trained["means"])
    # the splat stage's judges: the training-view guard of the clean rules, the contribution over every camera
    guard = training_fidelity(scene.train, lambda p, view: view_psnr(p, view, renderer, sh_degree, background))
    every_camera = capture_contribution(scene, renderer)

    def training_cameras_only(params: dict) -> torch.Tensor:  # for comparison: what crop did before session 9
        return contribution(params, scene.train, renderer)

    variants: dict[str, tuple[CleanupOptions, Contribution | None]] = {
        "none": (CleanupOptions(crop=False, clean=False, budget=n), None),
        "crop": (CleanupOptions(crop=True, clean=False, budget=n), every_camera),
        "clean": (CleanupOptions(crop=False, clean=True, budget=n), every_camera),
        "clean, contribution over training cameras only": (
            CleanupOptions(crop=False, clean=True, budget=n),
            training_cameras_only,
        ),
        "crop + clean (budget 1M)": (CleanupOptions(), every_camera),
        "rigid_object crop": (CleanupOptions(crop_mode="rigid_object", clean=False, budget=n), every_camera),
    }
    for fraction in args.budget_fraction:
        budget = CleanupOptions(crop=False, clean=False, budget=int(fraction * n))
        variants[f"budget {fraction:.0%} by significance"] = (budget, None)
        variants[f"budget {fraction:.0%} by contribution"] = (budget, every_camera)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, (options, ranking) in variants.items():
            started = time.perf_counter()
            params, report = cleanup(trained, scene, options, guard, ranking)
            cleanup_s = time.perf_counter() - started
            evaluation = evaluate(params, scene.test, renderer, preset, sh_degree, None, 0, background)
            row = {
                "scene": args.name,
                "variant": label,
                "steps": result.steps,
                "train_s": round(train_s, 1),
                "device": f"{device} ({backend})",
                "image_size": [scene.train[0].width, scene.train[0].height],
                "test_views": len(scene.test),
                "gaussians": report.after,
                "removed": report.removed,
                "spared": report.spared,
                "cleanup_s": round(cleanup_s, 1),
                "psnr": round(evaluation.psnr or float("nan"), 3),
                **sizes(params, sh_degree, Path(scratch)),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    # The same budget enforced while training (the strategies' cap_max, as the splat stage sets it from
    # training.numGaussians): growth stops at the cap instead of a finished splat being pruned down to it.
    for fraction in [] if args.no_capped else args.budget_fraction:
        _, capped, capped_s = train(dataclasses.replace(preset, max_gs_num=int(fraction * n)))
        evaluation = evaluate(capped.params, scene.test, renderer, preset, sh_degree, None, 0, background)
        with tempfile.TemporaryDirectory() as scratch:
            row = {
                **rows[0],
                "variant": f"budget {fraction:.0%} while training",
                "train_s": round(capped_s, 1),
                "gaussians": len(capped.params["means"]),
                "removed": {},
                "psnr": round(evaluation.psnr or float("nan"), 3),
                **sizes(capped.params, sh_degree, Path(scratch)),
            }
        print(json.dumps(row), flush=True)
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["psnr_delta"] = round(row["psnr"] - base["psnr"], 3)
        row["ply_bytes_saved"] = base["ply_bytes"] - row["ply_bytes"]
        row["spz_bytes_saved"] = base["spz_bytes"] - row["spz_bytes"]
    print(json.dumps(rows))
    return 0


def sizes(params: dict, sh_degree: int, scratch: Path) -> dict[str, int]:
    """The bytes of the .ply and .spz (v3) our exporters write for `params`."""
    gaussians = to_gaussians(params).up_to_degree(sh_degree)
    ply, spz = scratch / "s.ply", scratch / "s.spz"
    write_ply(ply, gaussians)
    write_spz(spz, gaussians)
    return {"ply_bytes": ply.stat().st_size, "spz_bytes": spz.stat().st_size}


if __name__ == "__main__":
    sys.exit(main())
