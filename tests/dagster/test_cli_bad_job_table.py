"""`gs-dagster status` with a GS_JOB_TABLE it cannot open: `error: ...` saying what is accepted, exit code 2,
no traceback (like any other bad configuration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gs_dagster import cli


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://x", "GS_JOB_TABLE: job table must be sqlite:///path or dynamodb://table, got 'postgres://x'"),
        ("dynamodb://", "GS_JOB_TABLE: no table name in 'dynamodb://'"),
    ],
)
def test_an_unknown_job_table_is_bad_configuration(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GS_JOB_TABLE", url)
    assert cli.main(["status"]) == 2
    assert cli.main(["status", "some-uuid"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {message}") and "Traceback" not in error


def test_a_sqlite_path_that_cannot_be_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GS_JOB_TABLE", f"sqlite:///{tmp_path}/file/jobs.sqlite3")
    assert cli.main(["status"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: GS_JOB_TABLE=sqlite:///") and "cannot open the job table" in error
