"""`gs-dagster submit` / `status`, and the run-status sensors on a canceled run and on runs of no job."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import local_config, runner_for

from gs_dagster import cli
from gs_dagster.resources.job_table import JobRecord, open_job_table
from gs_dagster.resources.notifier import NotifierResource


def test_submit_uploads_media_then_a_valid_job(
    embedded_env: Path, sample_zip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["submit", str(sample_zip), "--max-steps", "123", "--set", "sfm.matchingMethod=exhaustive"]) == 0
    out, err = capsys.readouterr()
    uuid = out.strip()
    job = json.loads((embedded_env / "bucket" / "workflow-input" / f"{uuid}.json").read_text())
    assert job["uuid"] == uuid and job["training"]["maxSteps"] == 123
    assert job["sfm"]["matchingMethod"] == "exhaustive" and job["s3"]["bucketName"] == "gs-local"
    assert (embedded_env / "bucket" / "media-input" / job["s3"]["inputKey"]).read_bytes() == sample_zip.read_bytes()
    assert f"partition={uuid}" in err and f"gs-dagster status {uuid}" in err

    # Not taken in yet (only the intake sensor records it): status says so and how to start it.
    assert cli.main(["status", uuid]) == 0
    out = capsys.readouterr().out
    assert f"{uuid}: uploaded" in out and "waiting for intake" in out and f"workflow-input/{uuid}.json" in out
    assert "gs-dagster ui" in out and "gs-dagster process" in out
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert uuid in out and "UPLOADED" in out and "not taken in yet" in out and "gs-dagster process" in out
    assert cli.main(["status", uuid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["waiting_for_intake"] is True
    assert cli.main(["status", "no-such-job"]) == 1  # neither recorded nor uploaded
    assert "no job 'no-such-job'" in capsys.readouterr().err


def test_submit_refuses_bad_options_before_uploading(embedded_env: Path, sample_zip: Path) -> None:
    assert cli.main(["submit", str(sample_zip), "--set", "training.maxStep=5"]) == 2
    assert cli.main(["submit", str(sample_zip), "--max-steps", "0"]) == 2
    assert cli.main(["submit", str(sample_zip), "--set", "training.model=3dgrt"]) == 2  # valid, never runnable
    assert not (embedded_env / "bucket" / "workflow-input").exists()
    assert not (embedded_env / "bucket" / "media-input").exists()


@pytest.mark.parametrize("model", ["splatfacto-w-light", "3dgut"])
def test_submit_accepts_the_models_our_trainer_trains(embedded_env: Path, sample_zip: Path, model: str) -> None:
    assert cli.main(["submit", str(sample_zip), "--set", f"training.model={model}"]) == 0
    (job_file,) = (embedded_env / "bucket" / "workflow-input").glob("*.json")
    assert json.loads(job_file.read_text())["training"]["model"] == model


def test_submit_accepts_nerfacto_and_sam2(embedded_env: Path, sample_zip: Path) -> None:
    """Both left the "not available" lists: nerfacto (nerfstudio's venv) and SAM 2, on a photo zip too."""
    options = ["--set", "training.model=nerfacto", "--set", "segmentation.removeBackground=true"]
    options += ["--set", "segmentation.backgroundRemovalModel=sam2"]
    assert cli.main(["submit", str(sample_zip), *options]) == 0
    (job_file,) = (embedded_env / "bucket" / "workflow-input").glob("*.json")
    job = json.loads(job_file.read_text())
    assert job["training"]["model"] == "nerfacto" and job["segmentation"]["backgroundRemovalModel"] == "sam2"


def test_status_reads_the_job_table(embedded_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = local_config(embedded_env)
    table = open_job_table(config.job_table)
    table.create(JobRecord(uuid="done-1", status="COMPLETE", submitted_at="2026-01-01T00:00:00.000+00:00"))
    table.create(JobRecord(uuid="bad-1", status="FAILED", error="invalid job JSON", submitted_at="2026-01-02"))
    assert cli.main(["status"]) == 0
    listing = capsys.readouterr().out
    assert listing.index("bad-1") < listing.index("done-1")  # newest first
    assert cli.main(["status", "bad-1"]) == 0
    assert "FAILED" in (text := capsys.readouterr().out) and "invalid job JSON" in text
    assert cli.main(["status", "done-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "COMPLETE"


def test_canceled_run_is_recorded_and_notified(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    config = local_config(tmp_path)
    runner = runner_for(config, instance)
    table = open_job_table(config.job_table)
    table.create(JobRecord(uuid="c-1", status="RUNNING", spec="{}"))
    instance.add_dynamic_partitions("jobs", ["c-1"])
    job = runner.defs.resolve_job_def("reconstruct")
    run = instance.create_run_for_job(job, tags={"dagster/partition": "c-1"}, status=dg.DagsterRunStatus.STARTED)
    instance.report_run_canceled(run)
    assert runner.report_run(run.run_id) == ["CANCELED"]
    record = table.get("c-1")
    assert record.status == "CANCELED" and record.run_id == run.run_id
    notice = NotifierResource(outbox_dir=config.outbox_dir).outbox()[-1]
    assert notice["event"] == "CANCELED" and "c-1" in notice["subject"]


def test_runs_of_no_job_are_left_alone(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    config = local_config(tmp_path)
    runner = runner_for(config, instance)
    run = instance.create_run_for_job(runner.defs.resolve_job_def("reconstruct"), status=dg.DagsterRunStatus.STARTED)
    instance.report_run_failed(run)
    runner.report_run(run.run_id)  # no partition: nothing to record, nothing to say
    assert NotifierResource(outbox_dir=config.outbox_dir).outbox() == []
