"""What a user sees when SfM cannot do its job: a StageError that says what happened and what to try."""

from __future__ import annotations

from pathlib import Path

import pytest

from gs_stages.layout import FramesManifest
from gs_stages.sfm.metrics import require_registered
from gs_stages.stage import StageError

from .jobs import make_spec
from .sfm_fixtures import DATA, kermit_frames, run_sparse, write_frames

#: One photo from each of six unrelated scenes: nothing can match, nothing can register.
UNRELATED = [
    DATA / "kermit" / "kermit000.jpg",
    DATA / "fox" / "images" / "0001.jpg",
    DATA / "lund" / "images" / "01.jpg",
    DATA / "sacre_coeur" / "mapping" / "02928139_3448003521.jpg",
    DATA / "sceaux_castle" / "images" / "100_7100.JPG",
    DATA / "statue_of_liberty_colmap" / "images" / "14268549464_8c6bd2338d_o.jpg",
]


def test_unrelated_photos_fail_with_what_to_try(tmp_path: Path) -> None:
    write_frames(tmp_path / "frames", [(p, p.name) for p in UNRELATED], max_side=480)
    spec = make_spec(**{"sfm.matchingMethod": "exhaustive", "sfm.softwareName": "colmap"})
    with pytest.raises(StageError, match=r"registered only 0 of 6 images") as error:
        run_sparse(spec, tmp_path / "frames", tmp_path / "out")
    message = str(error.value)
    assert "overlap" in message and "blurry" in message and "exhaustive" in message
    assert not (tmp_path / "out" / "sparse").exists()


@pytest.mark.parametrize(
    ("registered", "total", "fails"),
    [(2, 3, True), (3, 3, False), (4, 10, True), (5, 10, False), (149, 300, True), (150, 300, False)],
)
def test_the_registration_bar_is_3_images_and_half_the_input(registered: int, total: int, fails: bool) -> None:
    if fails:
        with pytest.raises(StageError, match=f"registered only {registered} of {total} images"):
            require_registered(registered, total, 0.5)
    else:
        require_registered(registered, total, 0.5)


def test_fewer_than_three_frames_are_refused_before_any_work(tmp_path: Path) -> None:
    write_frames(tmp_path / "frames", [(p, p.name) for p in UNRELATED[:2]], max_side=160)
    with pytest.raises(StageError, match="SfM needs at least 3 images of the scene; the frames stage kept 2") as error:
        run_sparse(make_spec(), tmp_path / "frames", tmp_path / "out")
    assert "20 or more" in str(error.value)
    assert not any(p.name != "metrics.json" for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_a_manifest_naming_absent_images_is_refused(tmp_path: Path) -> None:
    manifest = kermit_frames(tmp_path / "frames", max_side=160)
    (tmp_path / "frames" / "images" / manifest.frames[3].name).unlink()
    with pytest.raises(StageError, match="missing from") as error:
        run_sparse(make_spec(), tmp_path / "frames", tmp_path / "out")
    assert "frames stage again" in str(error.value)


def test_priors_asked_for_but_absent_are_refused(tmp_path: Path) -> None:
    kermit_frames(tmp_path / "frames", max_side=160)
    spec = make_spec(**{"sfm.posePriors.usePosePriorTransformJson.enable": True})
    with pytest.raises(StageError, match="found none in the zip"):
        run_sparse(spec, tmp_path / "frames", tmp_path / "out")
    assert FramesManifest.read(tmp_path / "frames").priors is None
