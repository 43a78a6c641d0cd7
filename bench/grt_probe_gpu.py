#!/usr/bin/env python3
"""What 3DGRT draws before and after a few steps, on the GPU (issue #18 item 5).

    python3 bench/grt_probe_gpu.py --data .gpu9/kermit --work /tmp/probe [--steps 300] [--overrides JSON]

Round 8 trained 3dgrt 7,000 steps on kermit and learned nothing: 436 Gaussians (the SfM points: no
densification, no pruning), held-out PSNR 7.42 (a black image). Poses and viewing directions are right on
the CPU (tests/stages/test_grt_with_3dgrut.py), so this looks at the tracer itself, with 3DGRUT's own
trainer set up exactly as the splat stage sets it up (our input, our request, grt_run's compose):
1. one synthetic Gaussian in front of a camera, traced: does OptiX hit anything at all?
2. the first training views at initialisation: hits per ray, opacity, colour against the ground truth;
3. one loss backward: are the position gradients non-zero (densification feeds on them)?
4. `--steps` of 3DGRUT's own training iterations: loss, Gaussians, opacity as they go.
Prints one JSON line; saves the first view's render and ground truth as PNGs in --work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "container" / "gs_stages" / "grt"))


def stats(tensor: Any) -> dict[str, float]:
    t = tensor.detach().float()
    return {"mean": round(float(t.mean()), 5), "max": round(float(t.max()), 5), "min": round(float(t.min()), 5)}


def synthetic(model: Any) -> dict[str, Any]:
    """One opaque Gaussian 3 units down +z of the origin, traced along +z from the origin, in world space."""
    import torch

    saved = {k: getattr(model, k).data.clone() for k in ("positions", "rotation", "scale", "density")}
    try:
        n = saved["positions"].shape[0]
        pos = torch.zeros_like(saved["positions"]) + torch.tensor([0.0, 0.0, 1e4], device="cuda")  # out of the way
        pos[0] = torch.tensor([0.0, 0.0, 3.0], device="cuda")
        rot = torch.zeros_like(saved["rotation"])
        rot[:, 0] = 1.0
        model.positions.data.copy_(pos)
        model.rotation.data.copy_(rot)
        model.scale.data.copy_(model.scale_activation_inv(torch.full_like(saved["scale"], 0.5)))
        model.density.data.copy_(model.density_activation_inv(torch.full_like(saved["density"], 0.9)))
        model.build_acc(rebuild=True)
        h = w = 8
        ys, xs = torch.meshgrid(torch.linspace(-0.1, 0.1, h), torch.linspace(-0.1, 0.1, w), indexing="ij")
        dirs = torch.stack([xs, ys, torch.ones_like(xs)], -1)
        dirs = (dirs / dirs.norm(dim=-1, keepdim=True))[None].cuda().contiguous()
        out = model.trace(torch.zeros_like(dirs), dirs)
        return {"n": n, "opacity": stats(out["pred_opacity"]), "hits": stats(out["hits_count"].float())}
    finally:
        for k, v in saved.items():
            getattr(model, k).data.copy_(v)
        model.build_acc(rebuild=True)


def views(trainer: Any, count: int, work: Path) -> list[dict[str, Any]]:
    import numpy as np
    from PIL import Image
    from threedgrut.utils.render import apply_background

    found = []
    for i, batch in enumerate(trainer.train_dataloader):
        if i >= count:
            break
        gpu_batch = trainer.train_dataset.get_gpu_batch_with_intrinsics(batch)
        outputs = trainer.model(gpu_batch, train=True, frame_id=0)
        outputs = apply_background(trainer.model.background, outputs, gpu_batch, training=True)
        losses = trainer.get_losses(gpu_batch, outputs)
        trainer.model.optimizer.zero_grad()
        losses["total_loss"].backward()
        grad = trainer.model.positions.grad
        found.append(
            {
                "hits": stats(outputs["hits_count"].float()),
                "opacity": stats(outputs["pred_opacity"]),
                "rgb": stats(outputs["pred_features"]),
                "gt": stats(gpu_batch.rgb_gt),
                "loss": round(float(losses["total_loss"]), 5),
                "grad_nonzero": int((grad != 0).any(1).sum()) if grad is not None else None,
                "grad_abs_mean": float(grad.abs().mean()) if grad is not None else None,
            }
        )
        if i == 0:
            for name, image in (("render", outputs["pred_features"]), ("gt", gpu_batch.rgb_gt)):
                pixels = (image[0].detach().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
                Image.fromarray(pixels).save(work / f"view0_{name}.png")
        trainer.model.optimizer.zero_grad()
    return found


def train_some(trainer: Any, conf: Any, steps: int) -> list[dict[str, Any]]:
    """3DGRUT's own iterations (run_train_iter), a record every tenth of the way."""
    from threedgrut.utils.logger import logger
    from threedgrut.utils.timer import CudaTimer

    logger.start_progress(task_name="Training", total_steps=steps, color="spring_green1")  # run_train_iter updates it
    profilers = {k: CudaTimer(enabled=False) for k in ("inference", "backward", "build_as", "step_total")}
    records, metrics, every = [], [], max(1, steps // 10)
    while trainer.global_step < steps:
        for batch in trainer.train_dataloader:
            if trainer.global_step >= steps:
                break
            trainer.run_train_iter(trainer.global_step, batch, profilers, metrics, conf)
            if trainer.global_step % every == 0:
                last = metrics[-1]
                records.append(
                    {
                        "step": trainer.global_step,
                        "n": int(trainer.model.num_gaussians),
                        "density": stats(trainer.model.get_density()),
                        "scale": stats(trainer.model.get_scale()),
                        "loss": {k: round(float(v), 5) for k, v in last.get("losses", {}).items()},
                        "psnr": last.get("psnr"),
                        "hits": last.get("hits_mean"),
                    }
                )
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a COLMAP scene (images/, sparse/0/)")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--overrides", default="[]", help="extra hydra overrides, JSON list")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)

    import grt_run
    import torch

    from gs_stages.grt.trainer import prepare
    from gs_stages.splat.settings import EngineSettings

    settings = EngineSettings.from_mapping({"device": "cuda"})
    extra = {"grt_overrides": json.loads(args.overrides)}
    _, request = prepare(args.data, args.data, None, args.work, args.steps, settings, extra)
    grt_run._cuda_home()
    grt_run._lpips_backbone(None, args.work)
    conf = grt_run.compose(request)
    from threedgrut.trainer import Trainer3DGRUT

    started = time.perf_counter()
    trainer = Trainer3DGRUT(conf)
    model = trainer.model
    record: dict[str, Any] = {
        "scene": args.data.name,
        "setup_s": round(time.perf_counter() - started, 2),
        "n": int(model.num_gaussians),
        "positions": stats(model.positions),
        "scale": stats(model.get_scale()),
        "density": stats(model.get_density()),
        "scene_extent": float(trainer.scene_extent),
        "bvh_update_frequency": int(conf.model.bvh_update_frequency),
        "background": str(conf.model.background.color),
        "gpu": torch.cuda.get_device_name(0),
    }
    for name, probe in (("synthetic", lambda: synthetic(model)), ("views", lambda: views(trainer, 2, args.work))):
        try:
            record[name] = probe()
        except Exception as exc:  # a probe reports what broke and goes on
            record[name] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        record["training"] = train_some(trainer, conf, args.steps)
    except Exception as exc:
        record["training"] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
