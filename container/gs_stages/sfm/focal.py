"""A first focal length from the fundamental matrices, for cameras whose focal length nobody knows.

Without EXIF or priors COLMAP starts every camera at 1.2 x its longest side. The incremental mapper
recovers from that (it refines the focal length while it grows the model), the global mapper does
not: it turns each pair's F into a relative pose with that focal length, averages the rotations and
only then bundle-adjusts. On the fox photos (true focal 1384 px at 1080x1920, guess 2304 px) it made
a model with 0.9 px reprojection error whose cameras were 28% of the scene off (sequential pairs;
2.9% with exhaustive pairs), while the same pairs gave 0.06% when the mapper started at 1384 px.
COLMAP's own view-graph calibration (pycolmap.calibrate_view_graph) did not move from 2304 px there.

The estimate: for a focal length f and K = [[f, 0, cx], [0, f, cy], [0, 0, 1]], E = K^T F K is an
essential matrix only if its two non-zero singular values are equal (Mendonca & Cipolla). The
median of (s1 - s2) / (s1 + s2) over the strongest quarter of a camera's verified pairs (most
inliers: a wide-baseline pair with 30 inliers has a poor F; over all 1225 fox pairs the median
pointed at 711 px) is searched on a log grid from a quarter to four times the guess. Too few
pairs, a minimum on the grid's edge or a large residual at the minimum keep the guess. Bundle
adjustment still refines the result.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import pycolmap

from gs_stages.sfm.database import open_database

#: Fewest verified general (UNCALIBRATED) pairs inside one camera for an estimate.
MIN_PAIRS = 8
#: Share of those pairs used, those with the most inliers (at least MIN_PAIRS of them).
_STRONGEST_SHARE = 0.25
#: Largest median (s1 - s2) / (s1 + s2) at the estimate that is trusted (fox: 0.0003 to 0.002).
MAX_RESIDUAL = 0.02
#: The search range, as factors of COLMAP's guess, and its steps: 1% apart, then 0.1% around the best.
_RANGE = (0.25, 4.0)
_COARSE_STEP = 0.01
_FINE_STEP = 0.001


def essential_residual(focal: float, principal_point: tuple[float, float], fundamentals: np.ndarray) -> float:
    """Median over the pairs of (s1 - s2) / (s1 + s2) of K^T F K: 0 where f makes every F an essential matrix."""
    cx, cy = principal_point
    k = np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])
    singular = np.linalg.svd(k.T @ fundamentals @ k, compute_uv=False)  # batched: one row per pair
    return float(np.median((singular[:, 0] - singular[:, 1]) / (singular[:, 0] + singular[:, 1])))


def estimate_focal(
    fundamentals: np.ndarray, inliers: np.ndarray, principal_point: tuple[float, float], guess: float
) -> float | None:
    """The focal length (pixels) that best turns the pairs' F into essential matrices, or None if unsure.

    `fundamentals` is (n, 3, 3), `inliers` each pair's inlier count (n,).
    """
    if len(fundamentals) < MIN_PAIRS:
        return None
    strongest = np.argsort(-np.asarray(inliers), kind="stable")
    fundamentals = fundamentals[strongest[: max(MIN_PAIRS, int(len(strongest) * _STRONGEST_SHARE))]]
    low, high = np.log(_RANGE[0]), np.log(_RANGE[1])
    coarse = guess * np.exp(np.arange(low, high + _COARSE_STEP / 2, _COARSE_STEP))
    costs = [essential_residual(f, principal_point, fundamentals) for f in coarse]
    best = int(np.argmin(costs))
    if best in (0, len(coarse) - 1):
        return None  # no minimum inside the range: the pairs do not pin the focal length down
    fine = coarse[best] * np.exp(np.arange(-_COARSE_STEP, _COARSE_STEP + _FINE_STEP / 2, _FINE_STEP))
    fine_costs = [essential_residual(f, principal_point, fundamentals) for f in fine]
    if min(fine_costs) > MAX_RESIDUAL:
        return None
    return float(fine[int(np.argmin(fine_costs))])


def _fundamentals_by_camera(database: pycolmap.Database) -> dict[int, list[tuple[np.ndarray, int]]]:
    """(F, inlier count) of each verified general pair whose two images share one camera, by camera id."""
    camera_of = {image.image_id: image.camera_id for image in database.read_all_images()}
    pair_ids, geometries = database.read_two_view_geometries()
    found: dict[int, list[tuple[np.ndarray, int]]] = defaultdict(list)
    for pair_id, geometry in zip(pair_ids, geometries, strict=True):
        if geometry.config != pycolmap.TwoViewGeometryConfiguration.UNCALIBRATED or geometry.F is None:
            continue
        first, second = pycolmap.pair_id_to_image_pair(pair_id)
        if camera_of[first] == camera_of[second]:
            found[camera_of[first]].append((np.asarray(geometry.F, dtype=float), len(geometry.inlier_matches)))
    return found


def initialise_focal_lengths(path: Path, log: logging.Logger) -> dict[int, tuple[float, float]]:
    """Replace COLMAP's guess by the estimate for each camera without a focal prior; {id: (guess, new)}.

    The camera keeps has_prior_focal_length false, so the mapper's bundle adjustment refines it.
    """
    changed: dict[int, tuple[float, float]] = {}
    with open_database(path) as database:
        fundamentals = _fundamentals_by_camera(database)
        for camera in database.read_all_cameras():
            if camera.has_prior_focal_length:
                continue
            pairs = fundamentals.get(camera.camera_id, [])
            guess = float(camera.mean_focal_length())
            focal = estimate_focal(
                np.stack([f for f, _ in pairs]) if pairs else np.empty((0, 3, 3)),
                np.array([n for _, n in pairs]),
                (camera.principal_point_x, camera.principal_point_y),
                guess,
            )
            if focal is None:
                log.info(
                    "focal length: camera %d keeps COLMAP's guess %.0f px (%d pairs do not settle it)",
                    camera.camera_id,
                    guess,
                    len(pairs),
                )
                continue
            camera.focal_length = focal
            database.update_camera(camera)
            changed[camera.camera_id] = (guess, focal)
            log.info(
                "focal length: camera %d starts at %.0f px from %d pairs (COLMAP's guess: %.0f px)",
                camera.camera_id,
                focal,
                len(pairs),
                guess,
            )
    return changed
