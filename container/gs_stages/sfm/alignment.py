"""Compare SfM camera centres with reference centres (pose priors) after a similarity alignment.

SfM poses have an arbitrary origin, rotation and scale, so errors are measured after the best
similarity (Umeyama / Sim3, least squares over all common cameras); they are reported relative to
the reference scene extent so that the figure does not depend on the units of either side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pycolmap

from gs_stages.priors.conventions import camera_centre


@dataclass(frozen=True)
class CentreAlignment:
    reference_from_model: pycolmap.Sim3d
    errors: dict[str, float]  # per image, in reference units
    extent: float  # largest distance between two reference centres

    @property
    def median_error(self) -> float:
        return float(np.median(list(self.errors.values())))

    @property
    def median_relative_error(self) -> float:
        return self.median_error / self.extent


def model_centres(model: pycolmap.Reconstruction) -> dict[str, np.ndarray]:
    """Camera centre of each registered image, by name."""
    return {image.name: np.asarray(image.projection_center()) for image in model.images.values() if image.has_pose}


def prior_centres(cam_from_world: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: camera_centre(matrix) for name, matrix in cam_from_world.items()}


def _extent(points: np.ndarray) -> float:
    differences = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((differences**2).sum(-1)).max())


def align_centres(model: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> CentreAlignment:
    """Least-squares similarity from model centres to reference centres over the images both have."""
    names = sorted(set(model) & set(reference))
    if len(names) < 3:
        raise ValueError(f"an alignment needs 3 common cameras, got {len(names)}")
    source = np.array([model[n] for n in names], dtype=float)
    target = np.array([reference[n] for n in names], dtype=float)
    transform = pycolmap.estimate_sim3d(source, target)
    if transform is None:
        raise ValueError("the camera centres are degenerate (collinear or coincident): no similarity")
    aligned = transform * source
    errors = np.linalg.norm(aligned - target, axis=1)
    return CentreAlignment(transform, dict(zip(names, errors.tolist(), strict=True)), _extent(target))
