"""Engine setting values: every rule of the stages' typed settings (gs_stages/settings_model.py and each
stage's settings.py), refused with the setting's name, what was given and what to pass, before any stage
runs (the CLI) and when the code location loads (GS_STAGE_SETTINGS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gs_dagster.config import GsConfig
from gs_stages.cli import main
from gs_stages.errors import available_cores
from gs_stages.export.settings import ExportSettings
from gs_stages.frames.settings import FramesSettings
from gs_stages.sfm.settings import SfmSettings
from gs_stages.splat.settings import EngineSettings
from gs_stages.stage import StageError, check_settings
from tests.stages.jobs import MINIMAL_JOB

#: (settings, the refusal's words, what the hint says to pass)
REFUSED = [
    # whole numbers: not text, not a fraction, not true/false
    ({"max_image_side": "big"}, "setting max_image_side='big' is not a whole number", "--setting max_image_side=3840"),
    ({"max_image_side": 800.5}, "setting max_image_side=800.5 is not a whole number", "--setting max_image_side=3840"),
    ({"max_image_side": True}, "setting max_image_side=True is not a number", "--setting max_image_side=3840"),
    ({"blur_fraction": "x"}, "setting blur_fraction='x' is not a number", "--setting blur_fraction=0.2"),
    # positive numbers and ranges
    ({"max_archive_files": 0}, "setting max_archive_files must be positive, got 0", "max_archive_files=20000"),
    ({"blur_fraction": 0}, "setting blur_fraction must be positive, got 0", "--setting blur_fraction=0.2"),
    ({"blur_fraction": 1}, "setting blur_fraction must be below 1, got 1", "--setting blur_fraction=0.2"),
    ({"jpeg_quality": 101}, "setting jpeg_quality must be at most 100, got 101", "--setting jpeg_quality=95"),
    ({"num_threads": -1}, "setting num_threads must be at least 0, got -1", "--setting num_threads=0"),
    ({"sfm_min_registered_ratio": 0.3}, "retired engine setting 'sfm_min_registered_ratio'", "GS_MIN_REGISTERED_RATIO"),
    ({"sfm_max_num_features": 0}, "setting sfm_max_num_features must be positive, got 0", "=8192"),
    ({"test_every": 1}, "setting test_every must be at least 2, got 1", "--setting test_every=8"),
    ({"stop_after": 0}, "setting stop_after must be at least 1, got 0", ""),
    ({"flythrough_long_side": 8}, "setting flythrough_long_side must be at least 16, got 8", ""),
    # choices and shapes
    ({"backend": "fast"}, "setting backend must be auto, gsplat, cpu or torch, got 'fast'", "--setting backend=auto"),
    ({"train_max_side": 8}, "setting train_max_side must be 'auto' or an integer >= 16, got 8", "train_max_side=auto"),
    ({"device": "tpu"}, "setting device='tpu' is not a device", "device must be auto, cpu, cuda or cuda:N"),
    ({"preset_overrides": [1]}, "setting preset_overrides must be a JSON object, got [1]", ""),
    ({"sfm_camera_model": "GOPRO"}, "setting sfm_camera_model='GOPRO' is not a COLMAP camera model", "OPENCV_FISHEYE"),
    ({"spz_version": 5}, "setting spz_version=5 is not an SPZ version we write", "use 3 or 4 (default 3)"),
    ({"sog": "maybe"}, "setting sog='maybe' is not auto, true or false", "sog=auto (default), true or false"),
    ({"output_name": "a/b"}, "setting output_name='a/b' is not a plain file name", "use letters, digits, -, _"),
    ({"antialiased": "sometimes"}, "setting antialiased='sometimes' is not true or false", "antialiased=false"),
]


@pytest.mark.parametrize(
    ("settings", "words", "hint"), REFUSED, ids=[next(iter(s)) + "-" + w[-12:] for s, w, _ in REFUSED]
)
def test_each_rule_refuses_with_the_name_and_what_to_pass(settings: dict, words: str, hint: str) -> None:
    with pytest.raises(StageError) as refused:
        check_settings(settings)
    assert words in refused.value.message
    assert hint in (refused.value.hint or "")


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(StageError) as refused:
        check_settings({"max_image_side": "big", "max_image_side_ok": 1})
    assert "unknown engine setting 'max_image_side_ok'" in refused.value.message  # names first, then values
    with pytest.raises(StageError) as refused:
        check_settings({"max_image_side": "big", "seed": -1, "sog": "maybe"})
    message = refused.value.message
    assert all(name in message for name in ("max_image_side='big'", "setting seed must be", "sog='maybe'"))


def test_accepted_values_read_as_their_types_and_derived_defaults() -> None:
    frames = FramesSettings.from_mapping({"max_image_side": "800", "blur_fraction": 0.3, "num_threads": 0})
    assert (frames.max_image_side, frames.blur_fraction, frames.num_threads) == (800, 0.3, min(8, available_cores()))
    assert FramesSettings.from_mapping({"max_image_side": 800.0}).max_image_side == 800  # a whole float is whole
    assert SfmSettings.from_settings({"num_threads": 0}).num_threads == available_cores()  # 0: every core
    assert SfmSettings.from_settings({"vocab_tree_path": ""}).vocab_tree_path is None
    splat = EngineSettings.from_mapping({"train_max_side": 960, "device": "cuda:1", "stop_after": 5})
    assert (splat.max_side_on("cpu"), splat.device, splat.stop_after) == (960, "cuda:1", 5)
    export = ExportSettings.from_mapping({"sog": "yes", "antialiased": "true", "flythrough": "off", "spz_version": "4"})
    assert (export.sog, export.antialiased, export.flythrough, export.spz_version) == ("on", True, False, 4)
    with pytest.raises(Exception, match="frozen"):
        frames.max_image_side = 1  # type: ignore[misc]


def test_a_bad_value_in_gs_stage_settings_fails_the_code_location(tmp_path: Path) -> None:
    env = {"GS_DATA_DIR": str(tmp_path), "GS_STAGE_SETTINGS": '{"max_image_side": 800, "jpeg_quality": 0}'}
    with pytest.raises(ValueError, match="setting jpeg_quality must be at least 1, got 0") as refused:
        GsConfig.from_env(env)
    assert "--setting jpeg_quality=95" in str(refused.value)


def test_the_cli_refuses_a_bad_value_before_the_stage_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(MINIMAL_JOB))
    root = tmp_path / "root"
    argv = ["chain", "--spec", str(spec), "--root", str(root), "--stages", "spz", "--setting", "test_every=1"]
    assert main(argv) == 2
    assert "setting test_every must be at least 2, got 1" in capsys.readouterr().err
    assert not root.exists()
