"""A COLMAP model from the zip: read as given, renamed to the frames' names, scaled to their size."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pycolmap
import pytest

from gs_stages.layout import FrameRecord, FramesManifest
from gs_stages.priors.colmap_model import find_model_dir, load_colmap_prior
from gs_stages.stage import StageError

from .sfm_fixtures import STATUE

LOG = logging.getLogger("gs_stages.test")


def _manifest(names: list[str], scale: float = 0.5) -> FramesManifest:
    """The statue photos as the frames stage records them (800x1200 originals written at `scale`)."""
    size = (round(800 * scale), round(1200 * scale))
    records = [FrameRecord(f"{i:06d}.jpg", f"statue/images/{n}", *size, 800, 1200, 0.0) for i, n in enumerate(names)]
    return FramesManifest("archive", "statue.zip", records, priors="colmap_model", priors_source="statue/sparse/0")


def _priors(tmp_path: Path, suffix: str, subdir: str) -> Path:
    model = tmp_path / "priors" / "sparse" / subdir
    model.mkdir(parents=True)
    for path in (STATUE / "sparse" / "0").glob(f"*{suffix}"):
        shutil.copyfile(path, model / path.name)
    return tmp_path / "priors"


ALL_NAMES = sorted(p.name for p in (STATUE / "images").glob("*.jpg"))


@pytest.mark.parametrize(("suffix", "subdir"), [(".txt", ""), (".bin", "0")], ids=["text-flat", "binary-sparse0"])
def test_model_is_used_as_given_with_frame_names_and_half_size_cameras(
    tmp_path: Path, suffix: str, subdir: str
) -> None:
    manifest = _manifest(ALL_NAMES)
    priors_dir = _priors(tmp_path, suffix, subdir)
    given = pycolmap.Reconstruction(priors_dir / "sparse" / subdir)
    prior = load_colmap_prior(priors_dir, manifest, LOG)
    model = prior.reconstruction
    assert (model.num_reg_images(), model.num_points3D()) == (40, 1816)
    assert prior.missing == [] and prior.unposed == []
    camera = next(iter(model.cameras.values()))
    assert (camera.width, camera.height) == (400, 600)
    assert camera.params == pytest.approx([2395.65 / 2, 200.0, 300.0, -0.684122], rel=1e-5)

    by_source = {Path(r.source).name: r.name for r in manifest.frames}
    for image in given.images.values():
        renamed = model.find_image_with_name(by_source[image.name])
        assert renamed is not None, image.name
        np.testing.assert_allclose(renamed.cam_from_world().matrix(), image.cam_from_world().matrix(), atol=1e-12)
        halved = np.array([p.xy for p in image.points2D]) / 2
        np.testing.assert_allclose([p.xy for p in renamed.points2D], halved, atol=1e-9)
    # Halving the images halves every reprojection error (recomputed: the file's errors are rounded).
    given.update_point_3d_errors()
    assert model.compute_mean_reprojection_error() == pytest.approx(
        given.compute_mean_reprojection_error() / 2, rel=1e-6
    )


def test_model_images_that_are_not_frames_are_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kept = ALL_NAMES[:30]
    with caplog.at_level(logging.WARNING):
        prior = load_colmap_prior(_priors(tmp_path, ".bin", "0"), _manifest(kept, scale=1.0), LOG)
    model = prior.reconstruction
    assert model.num_reg_images() == 30
    assert sorted(prior.missing) == ALL_NAMES[30:]
    assert any("left out" in r.getMessage() for r in caplog.records)
    assert 0 < model.num_points3D() < 1816
    for point in model.points3D.values():
        assert point.track.length() >= 2
    assert model.compute_mean_reprojection_error() < 2.0


def test_no_model_in_the_priors_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "priors" / "sparse").mkdir(parents=True)
    (tmp_path / "priors" / "sparse" / "points3D.bin").write_bytes(b"")
    assert find_model_dir(tmp_path / "priors") is None
    with pytest.raises(StageError, match="no COLMAP model"):
        load_colmap_prior(tmp_path / "priors", _manifest(ALL_NAMES), LOG)


def test_a_model_of_other_images_is_a_clear_error(tmp_path: Path) -> None:
    manifest = _manifest(["other.jpg", "photos.jpg", "entirely.jpg"])
    with pytest.raises(StageError, match="none of the 40 images"):
        load_colmap_prior(_priors(tmp_path, ".bin", ""), manifest, LOG)
