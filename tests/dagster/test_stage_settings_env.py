"""GS_STAGE_SETTINGS is checked when the configuration is read: a mistyped engine setting fails the code
location (UI, daemon, CLI) at once instead of being ignored by every stage of a GPU job."""

from __future__ import annotations

from pathlib import Path

import pytest

from gs_dagster import cli
from gs_dagster.config import GsConfig


def test_a_typo_in_gs_stage_settings_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    env = {"GS_DATA_DIR": str(tmp_path), "GS_STAGE_SETTINGS": '{"max_image_side": 800, "max_image_sid": 800}'}
    with pytest.raises(ValueError, match=r"GS_STAGE_SETTINGS 'max_image_sid' \(did you mean 'max_image_side'\?\)"):
        GsConfig.from_env(env)


def test_settings_of_any_stage_are_accepted(tmp_path: Path) -> None:
    settings = '{"max_image_side": 800, "sfm_max_num_features": 4096, "segmentation_weights": "/w", "seed": 1}'
    config = GsConfig.from_env({"GS_DATA_DIR": str(tmp_path), "GS_STAGE_SETTINGS": settings})
    assert config.stage_settings["sfm_max_num_features"] == 4096


def test_the_cli_reports_it_as_bad_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GS_STAGE_SETTINGS", '{"checkpoint_evry": 100}')
    assert cli.main(["status"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "'checkpoint_evry' (did you mean 'checkpoint_every'?)" in error
    assert "Traceback" not in error


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", '"800"'])
def test_gs_stage_settings_that_is_no_json_object_says_what_to_write(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match=r'GS_STAGE_SETTINGS must be a JSON object, e.g. \{"max_image_side": 800\}'):
        GsConfig.from_env({"GS_DATA_DIR": str(tmp_path), "GS_STAGE_SETTINGS": text})
    assert GsConfig.from_env({"GS_DATA_DIR": str(tmp_path), "GS_STAGE_SETTINGS": " "}).stage_settings == {}
