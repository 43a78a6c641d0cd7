"""How good a sparse model is, in the figures people check first, and the rule for "too few registered"."""

from __future__ import annotations

import math
from typing import Any

import pycolmap

from gs_stages.quality_checks import judge_registration
from gs_stages.stage import StageError


def model_metrics(model: pycolmap.Reconstruction) -> dict[str, Any]:
    """Registered images, points, mean reprojection error (px) and mean track length of one model."""
    error = model.compute_mean_reprojection_error() if model.num_points3D() else math.nan
    return {
        "registered_images": model.num_reg_images(),
        "points3d": model.num_points3D(),
        "observations": model.compute_num_observations(),
        "mean_reprojection_error_px": round(error, 4) if math.isfinite(error) else None,
        "mean_track_length": round(model.compute_mean_track_length(), 3) if model.num_points3D() else 0.0,
        "cameras": model.num_cameras(),
    }


def require_registered(registered: int, total: int, min_ratio: float, what: str = "SfM") -> None:
    """Fail with advice when too few images got a pose, by the registered_ratio check's rule
    (gs_stages.quality_checks.judge_registration: at least 3 images and `min_ratio` of the input).

    Half of the input is the default bar: below it the splat is trained on a fraction of the
    capture and the result is worse than re-shooting or re-matching would give.
    """
    outcome = judge_registration("sparse_model", registered, total, min_ratio)
    if not outcome.passed:
        bar = outcome.metadata["bar"]
        raise StageError(f"{what} registered only {registered} of {total} images ({bar})", hint=outcome.hint)
