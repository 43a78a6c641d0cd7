"""The splat stage: frames + sparse model (+ masks) -> `splat.ply`, `preview.png`, checkpoints, metrics.

Order matters for the user: the model choice is checked before anything is read, so an
unavailable `training.model` fails in milliseconds, not after loading a scene.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from gs_stages.layout import CHECKPOINTS_DIR, PREVIEW_PNG, SPLAT_PLY
from gs_stages.splat import checkpoint, data_parallel, presets
from gs_stages.splat.appearance_eval import nerfw_evaluate
from gs_stages.splat.backend import pick_device, pick_renderer
from gs_stages.splat.cleanup import cleanup, cleanup_options, training_fidelity
from gs_stages.splat.contribution import capture_contribution
from gs_stages.splat.evaluate import eval_background, evaluate, view_psnr
from gs_stages.splat.lpips import load_lpips
from gs_stages.splat.metrics import peak_memory, reset_peak_memory
from gs_stages.splat.model import to_gaussians
from gs_stages.splat.preview import write_preview
from gs_stages.splat.profiling import PROFILE_TXT
from gs_stages.splat.scene import Scene, load_scene
from gs_stages.splat.settings import EngineSettings
from gs_stages.splat.train import Trainer
from gs_stages.stage import StageContext


def run(ctx: StageContext) -> dict[str, Any]:
    training = ctx.spec.training
    if not training.enable:  # whatever the model: nothing will be trained
        ctx.log.info("splat: training.enable is false; nothing to train")
        return {"trained": False, "reason": "training.enable is false", "model": training.model}
    settings = EngineSettings.from_mapping(ctx.settings)
    if training.model == "nerfacto":  # a NeRF, trained by nerfstudio in its own venv (gs_stages/nerf/)
        from gs_stages.nerf.trainer import train_nerfacto

        device = pick_device(settings.device)
        return train_nerfacto(ctx, device.type, settings.test_every, settings.lpips_weights)
    if training.model == "3dgrt":  # ray-traced by NVIDIA 3DGRUT in its own environment (gs_stages/grt/)
        from gs_stages.grt.trainer import train_3dgrt

        return train_3dgrt(ctx, pick_device(settings.device).type, settings)
    preset = presets.resolve(training.model, settings.preset_overrides)  # fails fast, before any I/O
    if "max_gs_num" not in settings.preset_overrides:  # the job's budget is MCMC's cap (an engine override wins)
        preset = dataclasses.replace(preset, max_gs_num=training.num_gaussians)
    device = pick_device(settings.device)
    backend, renderer = pick_renderer(settings.backend, device)
    # enableMultiGpu: every GPU trains the one splat (data_parallel.py); kept visible when it cannot.
    world, multi_gpu_note = data_parallel.ranks_for(training.enable_multi_gpu, device, settings.data_parallel_ranks)
    if multi_gpu_note:
        ctx.log.warning("splat: %s", multi_gpu_note)
    started = time.perf_counter()
    scene = load_scene(
        ctx.input("frames"),
        ctx.input("sparse_model"),
        ctx.optional_input("masks"),
        settings.image_downscale,
        settings.test_every,
        settings.undistort,
        settings.max_side_on(device.type),
        keep_lens=preset.with_ut,
    )
    load_seconds = time.perf_counter() - started
    ctx.log.info("splat: %s on %s with the %s rasterizer, %d steps", preset.name, device, backend, training.max_steps)

    reset_peak_memory(device)
    torch.manual_seed(settings.seed)
    checkpoints = ctx.output / CHECKPOINTS_DIR
    run_preset = data_parallel.scaled_preset(preset, world)
    steps = data_parallel.scaled_steps(training.max_steps, world)
    trainer = Trainer(scene, run_preset, settings, renderer, device, checkpoints, ctx.output / PROFILE_TXT)
    tracker = ctx.tracker("training", steps)
    parallel: dict[str, Any] | None = None
    if world > 1:
        earlier = checkpoint.latest(checkpoints)
        ctx.log.info("splat: %d ranks, %d steps of %d views each", world, steps, world)
        report = data_parallel.train_ranks(world, scene, run_preset, settings, device, checkpoints, steps, tracker)
        parallel = {"ranks": world, "steps": steps, "views_per_step": world, "device": device.type, **report}
        parallel["resumed_from_step"] = checkpoint.step_of(earlier) if earlier else None
    result = trainer.run(steps, tracker=None if parallel else tracker)  # after the ranks: resumes at the end
    memory, memory_kind = peak_memory(device)

    ctx.tracker("evaluation", len(scene.test)).update(0)
    lpips_model, lpips_absent = load_lpips(settings.lpips_weights, device)
    sh_degree = trainer.sh_degree(result.steps)
    # splatfacto-w-light: evaluated and delivered in its neutral appearance (appearance.py says which).
    appearance = trainer.appearance
    params = appearance.bake(result.params) if appearance else result.params
    background = eval_background(preset, device)
    # Crop, floaters and the budget go before evaluation, so the reported PSNR is the delivered splat's; the
    # clean rules are guarded by the training views (never the held-out ones' pixels).
    guard = training_fidelity(scene.train, lambda p, view: view_psnr(p, view, renderer, sh_degree, background))
    options = cleanup_options(ctx.spec)
    params, cleaned = cleanup(params, scene, options, guard, capture_contribution(scene, renderer))
    ctx.log.info("splat: cleanup kept %d of %d Gaussians (%s)", cleaned.after, cleaned.before, cleaned.removed)
    for rule, why in cleaned.spared.items():
        ctx.log.info("splat: cleanup rule %s skipped: %s", rule, why)
    evaluation = evaluate(
        params, scene.test, renderer, preset, sh_degree, lpips_model, settings.preview_views, background
    )
    if evaluation.pairs:
        write_preview(ctx.output / PREVIEW_PNG, evaluation.pairs)

    from gs_stages.export.cameras import CAMERAS_JSON, camera_entry, write_cameras
    from gs_stages.export.ply import write_ply

    # The posed views, so the delivered splat can be opened at a capture camera's view (gs-dagster view).
    views = (camera_entry(v.name, v.viewmat.numpy(), v.K.numpy(), v.width, v.height) for v in scene.views)
    write_cameras(ctx.output / CAMERAS_JSON, views, axes="training (the sparse model's world)")
    # The file holds the SH degree training reached (and evaluation rendered), not the preset's maximum.
    write_ply(ctx.output / SPLAT_PLY, to_gaussians(params).up_to_degree(sh_degree))
    metrics: dict[str, Any] = {
        "trained": True,
        "model": preset.name,
        "strategy": preset.strategy,
        "backend": backend,
        "device": str(device),
        "steps": result.steps,
        "resumed_from_step": parallel["resumed_from_step"] if parallel else result.resumed_from,
        "num_gaussians": len(params["means"]),
        **cleaned.metrics(),
        "sh_degree": sh_degree,
        "train_seconds": round(result.train_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "peak_memory_bytes": memory,
        "peak_memory_kind": memory_kind,
        "train_views": len(scene.train),
        "test_views": len(scene.test),
        "image_width": scene.train[0].width,
        "image_height": scene.train[0].height,
        "image_downscale": scene.downscale,
        "undistorted": scene.undistorted,
        "lenses": _lens_summary(scene) if preset.with_ut else None,
        "masks": scene.masks_enabled,
        "psnr": evaluation.psnr,
        "ssim": evaluation.ssim,
        "lpips": evaluation.lpips,
        "per_view": evaluation.per_view,
        **nerfw_evaluate(params, scene.test, renderer, sh_degree, background),
    }
    if appearance:
        metrics["appearance"] = appearance.summary()
    if multi_gpu_note:
        metrics["multi_gpu_note"] = multi_gpu_note
    if parallel:
        metrics["data_parallel"] = parallel
    if result.profile is not None:
        metrics["profile"] = result.profile
    if lpips_absent is not None:
        metrics["lpips_absent_reason"] = lpips_absent
    else:
        metrics["lpips_backbone"] = lpips_model.source if lpips_model else None
    if not scene.test:
        metrics["eval_absent_reason"] = "no held-out views (too few images)"
    return metrics


def _lens_summary(scene: Scene) -> list[str]:
    """3dgut: the lenses the views were rendered through (metrics.json); `undistorted` says whether some
    view had to be undistorted after all (a COLMAP model gsplat's lenses do not cover)."""
    return sorted({v.lens.model + (" with distortion" if v.lens.distorted else "") for v in scene.views if v.lens})
