"""Jobs this build can never finish: refused before any stage works, every reason listed, and each stage
run by itself refuses its own case with the same words."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gs_stages.capabilities import unsupported
from gs_stages.cli import run_chain
from gs_stages.stage import NotAvailableError, StageError

from .jobs import make_spec, run_frames

ALL_FACES = ["back", "down", "front", "left", "right", "up"]


@pytest.mark.parametrize(
    ("options", "path", "stage"),
    [
        ({"training.model": "3dgrt"}, "training.model", "splat"),
        (
            {
                "segmentation.removeHumanSubject": True,
                "segmentation.removeBackground": True,
                "segmentation.backgroundRemovalModel": "u2net-human",
            },
            "segmentation.removeHumanSubject",
            "masks",
        ),
        (
            {"sphericalCamera.enable": True, "sfm.posePriors.usePosePriorTransformJson.enable": True},
            "sphericalCamera.enable",
            "frames",
        ),
        (
            {"sphericalCamera.enable": True, "sphericalCamera.cubeFacesToRemove": ALL_FACES},
            "sphericalCamera.cubeFacesToRemove",
            "frames",
        ),
    ],
)
def test_each_case_names_its_path_and_stage(options: dict, path: str, stage: str) -> None:
    (problem,) = unsupported(make_spec(**options))
    assert (problem.path, problem.stage) == (path, stage) and problem.hint


def test_what_the_build_runs_is_not_flagged() -> None:
    for options in (
        {},
        {"training.model": "splatfacto-mcmc"},
        {"training.model": "splatfacto-w-light"},
        {"training.model": "3dgrt", "training.enable": False},  # nothing will be trained
        {"training.model": "nerfacto"},  # trained by nerfstudio in its own venv (gs_stages/nerf/)
        {"segmentation.removeHumanSubject": True},  # with u2net as the object model (the default)
        {"segmentation.removeBackground": True, "segmentation.backgroundRemovalModel": "sam2"},  # photos too
        {"sphericalCamera.enable": True, "sphericalCamera.cubeFacesToRemove": ["up", "down"]},
    ):
        assert unsupported(make_spec(**options)) == [], options


def test_a_chain_refuses_before_its_first_stage_with_every_reason(tmp_path: Path) -> None:
    spec = make_spec(
        **{
            "training.model": "3dgrt",
            "sphericalCamera.enable": True,
            "sphericalCamera.cubeFacesToRemove": ALL_FACES,
        }
    )
    media = tmp_path / "media.zip"
    media.write_bytes(b"never read")
    started = time.perf_counter()
    with pytest.raises(StageError) as caught:
        run_chain(["frames", "masks", "sparse_model", "splat", "spz"], spec, tmp_path / "root", media)
    assert time.perf_counter() - started < 1.0
    text = str(caught.value)
    assert "cannot run the job (2 reasons)" in text
    assert "training.model: training.model '3dgrt' is not available in this build" in text
    assert "sphericalCamera.cubeFacesToRemove: sphericalCamera.cubeFacesToRemove removes all six faces" in text
    assert not (tmp_path / "root").exists()  # no stage started, nothing written


def test_a_chain_checks_only_the_stages_it_runs(tmp_path: Path) -> None:
    spec = make_spec(**{"training.model": "3dgrt"})
    with pytest.raises(StageError, match="needs --media"):  # got past the check: SfM-only chains may run
        run_chain(["frames", "sparse_model"], spec, tmp_path / "root", None)
    with pytest.raises(NotAvailableError, match="'3dgrt' is not available"):
        run_chain(["splat"], spec, tmp_path / "root", None)


def test_the_frames_stage_refuses_all_faces_removed_before_reading_the_media(tmp_path: Path) -> None:
    spec = make_spec(**{"sphericalCamera.enable": True, "sphericalCamera.cubeFacesToRemove": ALL_FACES})
    media = tmp_path / "media.zip"
    media.write_bytes(b"not a zip: never opened")
    with pytest.raises(StageError, match=r"removes all six faces(.|\n)*keep at least the side faces"):
        run_frames(spec, media, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*.jpg"))
