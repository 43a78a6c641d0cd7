"""Engine settings (`--setting`, GS_STAGE_SETTINGS, a launcher's settings): a name no stage reads is refused.

One settings dict is shared by every stage of a chain, so each stage reads only its own names; without
one list of every name a typo (`max_image_sid=800`) would be ignored and the default used.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

import gs_stages
from gs_stages.cli import main
from gs_stages.masks.weights import WEIGHTS_SETTING
from gs_stages.sfm.settings import SETTING_FIELDS, SfmSettings
from gs_stages.stage import STAGE_ORDER, StageError, check_settings, known_settings, setting_names
from tests.stages.jobs import MINIMAL_JOB

#: `settings.get("name")`, `settings["name"]` and `settings.get('name', default)` on any settings mapping.
READ = re.compile(r"settings(?:\.get\(|\[)\s*[\"']([A-Za-z0-9_]+)[\"']")


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(MINIMAL_JOB))
    return path


def test_every_name_a_stage_reads_is_known() -> None:
    package = Path(gs_stages.__file__).parent
    read = {
        (m.group(1), str(f.relative_to(package))) for f in package.rglob("*.py") for m in READ.finditer(f.read_text())
    }
    assert read, "the pattern no longer finds how stages read their settings"
    missing = sorted((name, where) for name, where in read if name not in known_settings())
    assert not missing, f"settings read but unknown to gs_stages.stage.setting_names: {missing}"
    assert WEIGHTS_SETTING in setting_names()["masks"]


def test_names_come_from_the_settings_classes() -> None:
    names = setting_names()
    assert set(names) == set(STAGE_ORDER)
    assert {"max_image_side", "jpeg_quality", "blur_fraction"} <= set(names["frames"])
    assert {"image_downscale", "checkpoint_every", "profile_steps", "preset_overrides"} <= set(names["splat"])
    # Every SfmSettings field has a setting name, so a new field cannot be left unreachable or unchecked.
    assert set(SETTING_FIELDS.values()) == set(SfmSettings.model_fields)
    assert "sfm_max_num_features" in names["sparse_model"]


def test_sfm_settings_read_through_their_names() -> None:
    settings = SfmSettings.from_settings({"num_threads": 3, "sfm_max_num_features": 100, "sfm_random_seed": 7})
    assert (settings.num_threads, settings.max_num_features, settings.random_seed) == (3, 100, 7)
    assert (settings.max_image_size, settings.vocab_tree_path) == (-1, None)


def test_a_typo_names_itself_and_the_closest_name() -> None:
    with pytest.raises(StageError) as caught:
        check_settings({"max_image_side": 800, "max_image_sid": 800, "checkpoint_evry": 10, "zzz": 1})
    message = str(caught.value)
    assert "'max_image_sid' (did you mean 'max_image_side'?)" in message
    assert "'checkpoint_evry' (did you mean 'checkpoint_every'?)" in message
    assert "'zzz'" in message
    assert "max_image_side," not in message.split("What to try")[0]  # only the unknown names are named


def test_cli_refuses_a_mistyped_setting_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    media = tmp_path / "media.zip"
    with zipfile.ZipFile(media, "w") as archive:
        archive.writestr("readme.txt", "no images")
    out = tmp_path / "out"
    argv = ["frames", "--spec", str(_spec(tmp_path)), "--input", f"media={media}", "--output", str(out)]
    assert main([*argv, "--setting", "max_image_sid=800"]) == 2
    error = capsys.readouterr().err
    assert "max_image_sid" in error and "did you mean 'max_image_side'?" in error
    assert not out.exists()  # refused before the stage created anything


def test_chain_refuses_a_typo_before_any_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    argv = ["chain", "--spec", str(_spec(tmp_path)), "--root", str(root), "--stages", "spz"]
    assert main([*argv, "--setting", "output_nam=garden"]) == 2
    assert "did you mean 'output_name'?" in capsys.readouterr().err
    assert not root.exists()


def test_chain_accepts_a_setting_another_stage_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The spz stage runs alone, with the frames stage's max_image_side and the splat stage's seed
    in the shared dict: accepted (it fails only for lack of a trained splat)."""
    root = tmp_path / "root"
    argv = ["chain", "--spec", str(_spec(tmp_path)), "--root", str(root), "--stages", "spz"]
    argv += ["--setting", "max_image_side=800", "--setting", "seed=3"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "no trained splat" in error and "unknown engine setting" not in error


def test_settings_modules_do_not_import_the_stage_module() -> None:
    """gs_stages.stage reads the settings modules' names; they import only the leaf gs_stages.errors, so the
    import runs one way (a fresh interpreter loads each settings module without loading gs_stages.stage)."""
    import subprocess
    import sys

    modules = (
        "gs_stages.frames.settings",
        "gs_stages.sfm.settings",
        "gs_stages.splat.settings",
        "gs_stages.export.settings",
    )
    for module in modules:
        code = f"import sys, {module}; print('gs_stages.stage' in sys.modules)"
        found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
        assert found.stdout.strip() == "False", module
