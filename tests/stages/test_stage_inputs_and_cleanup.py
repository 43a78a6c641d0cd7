"""The stage CLI names a wrong `--input` name, and a refused stage leaves nothing it created."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from gs_stages.cli import main, run_stage
from gs_stages.stage import StageError
from tests.stages.jobs import MINIMAL_JOB, make_spec


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(MINIMAL_JOB))
    return path


def _zip_without_images(tmp_path: Path) -> Path:
    media = tmp_path / "media.zip"
    with zipfile.ZipFile(media, "w") as archive:
        archive.writestr("notes.txt", "no photos here")
    return media


def test_a_wrong_input_name_is_named_with_the_names_the_stage_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["masks", "--spec", str(_spec(tmp_path)), "--input", f"frame={tmp_path}", "--output", str(tmp_path / "o")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "needs input(s) frames" in error
    assert "does not take input(s) 'frame' (did you mean 'frames'?)" in error
    assert "takes --input NAME=PATH for frames" in error


def test_a_mistyped_optional_input_is_not_ignored(tmp_path: Path) -> None:
    inputs = {"frames": tmp_path, "sparse_model": tmp_path, "mask": tmp_path}
    with pytest.raises(StageError, match=r"does not take input\(s\) 'mask' \(did you mean 'masks'\?\)") as caught:
        run_stage("splat", make_spec(), inputs, tmp_path / "out")
    assert "frames, sparse_model (optional: masks)" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_refused_frames_run_leaves_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    media = _zip_without_images(tmp_path)
    output = tmp_path / "new" / "frames"
    argv = ["frames", "--spec", str(_spec(tmp_path)), "--input", f"media={media}", "--output", str(output)]
    assert main(argv) == 2
    assert "holds no photos" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # neither the output nor the parent mkdir made


def test_a_refused_run_into_an_existing_folder_removes_only_what_it_created(tmp_path: Path) -> None:
    output = tmp_path / "frames"
    output.mkdir()
    (output / "notes.txt").write_text("the user's")
    with pytest.raises(StageError, match="holds no photos"):
        run_stage("frames", make_spec(), {"media": _zip_without_images(tmp_path)}, output)
    assert sorted(p.name for p in output.iterdir()) == ["notes.txt"]  # no empty images/


def _crash(context: object) -> dict:
    raise ValueError("a bug in the stage")


def test_a_crashing_stage_reports_the_error_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug still reaches the job record with its type and message (the Pipes report carries what
    `stage_failed` gets), not only an exit code; the traceback is in the log."""
    from gs_stages import cli
    from gs_stages.reporter import Reporter
    from gs_stages.stage import StageDef

    monkeypatch.setitem(cli.STAGES, "frames", StageDef("frames", ("media",), f"{__name__}:_crash"))
    failed: list[tuple[str, str]] = []
    monkeypatch.setattr(Reporter, "stage_failed", lambda self, stage, message: failed.append((stage, message)))
    media = _zip_without_images(tmp_path)
    argv = ["frames", "--spec", str(_spec(tmp_path)), "--input", f"media={media}", "--output", str(tmp_path / "out")]
    assert main(argv) == 1
    ((stage, message),) = failed
    assert stage == "frames" and message.startswith("internal error ValueError: a bug in the stage")
    assert "Traceback" in caplog.text and "_crash" in caplog.text
