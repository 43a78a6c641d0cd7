"""The sparse_model stage: poses and a sparse point cloud for the frames, as COLMAP `sparse/0`.

Where the poses come from (the job's sfm.posePriors decide; the frames stage copied the priors):
- a COLMAP model in the zip: used as given, renamed to the frames' names, scaled to their size;
- a transforms.json: its poses are kept (converted to COLMAP's convention), features are matched
  and points triangulated with the poses held fixed;
- neither: SfM, i.e. SIFT features, matching (sfm.matchingMethod) and the incremental (`colmap`) or
  global (`glomap`) mapper.
sfm.enable=false only makes sense with priors, and then changes nothing: a COLMAP model is used as
given either way, and a transforms.json still gets triangulated points, because training starts
from them. Priors are never re-estimated.

Success rule: SfM must register at least 3 images and enough of the input: the registered_ratio check
decides under Dagster (GS_MIN_REGISTERED_RATIO); outside it the stage holds half of the input, by the
same rule (gs_stages.quality_checks.judge_registration). If the mapper finds several models the largest becomes
sparse/0 and the metrics say how many were found. With priors, at least 3 frames need a pose.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pycolmap

from gs_stages.layout import read_frames_input
from gs_stages.quality_checks import MIN_REGISTERED_IMAGES
from gs_stages.sfm.from_images import from_images
from gs_stages.sfm.from_priors import from_colmap_model, from_transforms
from gs_stages.sfm.metrics import model_metrics
from gs_stages.sfm.model_io import write_sparse_model
from gs_stages.sfm.settings import SfmSettings
from gs_stages.stage import StageContext, StageError
from gs_stages.step_timer import StepTimer


@contextmanager
def _colmap_log_level(log: logging.Logger) -> Iterator[None]:
    """COLMAP's own log (glog) shows warnings only, unless the job logs at debug."""
    previous = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 0 if log.isEnabledFor(logging.DEBUG) else 1
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = previous


def run(ctx: StageContext) -> dict[str, Any]:
    """Write `<output>/sparse/0` and return the metrics (counts, errors, time of each sub-step)."""
    sfm = ctx.spec.sfm
    priors = sfm.pose_priors
    settings = SfmSettings.from_settings(ctx.settings)
    frames = read_frames_input(ctx.input("frames"))
    if len(frames.names) < MIN_REGISTERED_IMAGES:  # said before any work, not as "registered 0 of 1"
        raise StageError(
            f"SfM needs at least {MIN_REGISTERED_IMAGES} images of the scene; the frames stage kept "
            f"{len(frames.names)}",
            hint="upload more photos (20 or more, each overlapping its neighbours by 60-80%), or a longer video; "
            "if photos were dropped as blurry, set imageProcessing.filterBlurryImages to false",
        )
    timer = StepTimer()
    ctx.output.mkdir(parents=True, exist_ok=True)
    with _colmap_log_level(ctx.log), tempfile.TemporaryDirectory(dir=ctx.output, prefix=".sfm-") as scratch:
        workdir = Path(scratch)
        if priors.use_colmap_model_files:
            model, details = from_colmap_model(ctx, frames, timer)
        elif priors.transform_json.enable:
            model, details = from_transforms(ctx, frames, settings, workdir, timer)
        else:
            model, details = from_images(ctx, frames, settings, workdir, timer)
        with timer.step("write"):
            write_sparse_model(model, ctx.output)
    metrics: dict[str, Any] = {"input_images": len(frames.names), **model_metrics(model), **details}
    metrics["enhanced_features"] = sfm.enhanced_features
    metrics["timings_s"] = timer.rounded()
    ctx.log.info(
        "sparse model: %d of %d images, %d points, mean reprojection error %s px",
        metrics["registered_images"],
        metrics["input_images"],
        metrics["points3d"],
        metrics["mean_reprojection_error_px"],
    )
    return metrics
