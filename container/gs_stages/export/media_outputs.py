"""The spz stage's pictures of the splat: the fly-through `<name>.mp4` and the thumbnail `<name>.png`.

They are extras: the .ply/.spz are written first and do not depend on them. A splat without capture
cameras gets neither (the metrics say why); a failure to render or encode is logged and reported in the
metrics (`media_problems`) instead of failing the job, so a broken ffmpeg never costs a trained splat.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from gs_stages.export.flythrough import FrameRenderer, MediaSettings, write_flythrough, write_thumbnail
from gs_stages.gaussians import Gaussians
from gs_stages.stage import StageContext


def write_media(ctx: StageContext, g: Gaussians, cameras: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Render what the settings ask for into `ctx.output`; metrics of what was written."""
    from gs_stages.splat.backend import pick_device

    device = pick_device(str(ctx.settings.get("device", "auto")))
    settings = MediaSettings.from_settings(ctx.settings, device)
    video_off = "off (engine setting flythrough=false)"
    if not ctx.spec.post_processing.enable_video_export:  # the job's choice; the engine settings size it
        settings = replace(settings, flythrough=False)
        video_off = f"off (job: {ctx.spec.user_path('postProcessing.enableVideoExport')} false)"
    if not (settings.flythrough or settings.thumbnail):
        return {"flythrough": video_off, "thumbnail": "off"}
    if not cameras:
        return {"flythrough": "not written: no capture cameras", "thumbnail": "not written: no capture cameras"}
    metrics: dict[str, Any] = {}
    problems: list[str] = []
    started = time.perf_counter()
    renderer = FrameRenderer(g, device, str(ctx.settings.get("backend", "auto")))
    metrics["media_renderer"] = f"{renderer.backend} on {device.type}"
    if settings.thumbnail:
        try:
            path = write_thumbnail(ctx.output / f"{name}.png", renderer, cameras, settings.thumbnail_long_side)
            metrics.update(thumbnail_file=path.name, thumbnail_bytes=path.stat().st_size)
        except (OSError, RuntimeError, ValueError) as exc:
            ctx.log.warning("thumbnail not written: %s", exc)
            problems.append(f"thumbnail: {exc}")
    if settings.flythrough:
        ctx.log.info("fly-through: %d frames at %d px (%s)", settings.frames, settings.long_side, renderer.backend)
        path = ctx.output / f"{name}.mp4"
        try:
            metrics.update(write_flythrough(path, renderer, cameras, settings))
        # imageio-ffmpeg not installed, ffmpeg failing, CUDA out of memory: the .ply/.spz are delivered anyway
        # (round 9's GPU bench lost its .spz to a missing `imageio_ffmpeg` module)
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            path.unlink(missing_ok=True)
            ctx.log.warning("fly-through not written: %s", exc)
            problems.append(f"flythrough: {exc}")
    else:
        metrics["flythrough"] = video_off
    metrics["media_seconds"] = round(time.perf_counter() - started, 3)
    if problems:
        metrics["media_problems"] = problems
    return metrics
