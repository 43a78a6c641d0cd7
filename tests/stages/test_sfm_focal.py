"""The global mapper's starting focal length, estimated from the matches (gs_stages.sfm.focal).

The fox photos carry no EXIF focal length, so COLMAP guesses 1.2 x the longest side; the capture's
transforms.json says fl_x = 1375.52 px at 1080x1920. At full resolution glomap started from the
guess made a model 28% of the scene off (sequential pairs); from the estimate it was right.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pycolmap
import pytest

from gs_stages.layout import PRIORS_DIR, TRANSFORMS_JSON, FramesManifest
from gs_stages.priors.transforms_json import load_transforms_priors
from gs_stages.sfm.alignment import align_centres, model_centres, prior_centres
from gs_stages.sfm.features import CameraSetup, extract_features
from gs_stages.sfm.focal import MIN_PAIRS, estimate_focal, initialise_focal_lengths
from gs_stages.sfm.matching import match_features
from gs_stages.sfm.settings import SfmSettings

from .jobs import make_spec
from .sfm_fixtures import fox_frames, run_sparse, sparse_model

SIDE = 480
FOX_FOCAL = 1375.52 * SIDE / 1920  # transforms.json's fl_x at the test size
LOG = logging.getLogger("test")


@pytest.fixture(scope="module")
def fox_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = tmp_path_factory.mktemp("fox-small")
    fox_frames(frames, max_side=SIDE)  # with transforms.json under priors/, as the reference
    return frames


def _matched_database(frames: Path, target: Path, method: str) -> Path:
    names = sorted(p.name for p in (frames / "images").iterdir())
    settings = SfmSettings(num_threads=2)
    camera = CameraSetup.for_frames(frames / "images", names, "archive")
    extract_features(target, frames / "images", names, camera, False, settings, LOG)
    match_features(target, method, settings, LOG)
    return target


def _camera(database: Path) -> pycolmap.Camera:
    db = pycolmap.Database.open(database)
    try:
        (camera,) = db.read_all_cameras()
        return camera
    finally:
        db.close()


def test_fox_focal_length_comes_from_sequential_matches(fox_small: Path, tmp_path: Path) -> None:
    database = _matched_database(fox_small, tmp_path / "database.db", "sequential")
    assert _camera(database).mean_focal_length() == pytest.approx(1.2 * SIDE)  # COLMAP's guess, 67% too long

    changed = initialise_focal_lengths(database, LOG)

    guess, estimate = changed[1]
    assert guess == pytest.approx(1.2 * SIDE)
    assert estimate == pytest.approx(FOX_FOCAL, rel=0.03)
    camera = _camera(database)
    assert camera.mean_focal_length() == pytest.approx(estimate)
    assert not camera.has_prior_focal_length  # still refined by bundle adjustment


def _synthetic_fundamentals(focal: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """F = K^-T [t]x R K^-1 of random small motions, as a camera orbiting an object would see."""
    k = np.array([[focal, 0.0, 135.0], [0.0, focal, 240.0], [0.0, 0.0, 1.0]])
    k_inv = np.linalg.inv(k)
    result = []
    for _ in range(count):
        rotation = pycolmap.Rotation3d(rng.normal(scale=0.15, size=3)).matrix()
        t = rng.normal(size=3)
        t_cross = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
        f = k_inv.T @ t_cross @ rotation @ k_inv
        result.append(f / np.linalg.norm(f))
    return np.stack(result)


def test_estimate_finds_the_true_focal_and_refuses_when_unsure() -> None:
    rng = np.random.default_rng(0)
    good = _synthetic_fundamentals(344.0, 20, rng)
    inliers = np.arange(100, 120)
    assert estimate_focal(good, inliers, (135.0, 240.0), 576.0) == pytest.approx(344.0, rel=0.002)
    # Too few pairs, or matrices that are no camera's F (no focal length makes them essential).
    assert estimate_focal(good[: MIN_PAIRS - 1], inliers[: MIN_PAIRS - 1], (135.0, 240.0), 576.0) is None
    noise = rng.normal(size=(20, 3, 3))
    assert estimate_focal(noise, inliers, (135.0, 240.0), 576.0) is None


def test_fox_default_sfm_starts_glomap_from_the_estimate_and_matches_the_capture(
    fox_small: Path, tmp_path: Path
) -> None:
    """The job defaults (sequential pairs, glomap) through the stage: the estimate reaches the mapper."""
    frames = tmp_path / "frames"
    fox_frames(frames, max_side=SIDE, with_priors=False)
    spec = make_spec(**{"sfm.matchingMethod": "sequential", "sfm.softwareName": "glomap"})
    metrics = run_sparse(spec, frames, tmp_path / "out")
    assert metrics["registered_images"] == 50
    (guess, estimate) = metrics["initial_focal_px"]["1"]
    # Within 6 %: which pairs verify strongest varies with the matching threads' scheduling (seen 5.4 % off
    # once on a loaded 2-core machine, under 3 % when idle); the poses below are the outcome that counts.
    assert guess == pytest.approx(1.2 * SIDE) and estimate == pytest.approx(FOX_FOCAL, rel=0.06)

    reference = load_transforms_priors(
        fox_small / PRIORS_DIR / TRANSFORMS_JSON, FramesManifest.read(fox_small), "opengl", False, LOG
    )
    centres = prior_centres({f.name: f.cam_from_world for f in reference.frames})
    alignment = align_centres(model_centres(sparse_model(tmp_path / "out")), centres)
    assert len(alignment.errors) == 50
    assert alignment.median_relative_error < 0.01, alignment.median_relative_error
    assert max(alignment.errors.values()) / alignment.extent < 0.03
