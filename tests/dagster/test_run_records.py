"""Run records and notices whatever order the run-status sensors tick in (issue 15, classes 1 and 9):

- a run's start never overwrites its end: the job_started sensor ticking after the run failed (it was
  stopped, then started) leaves the record FAILED, and either order gives one notice;
- a re-run that starts (and is recorded RUNNING) before the first run's failure is handled still gets
  the first run's FAILED notice, once;
- a user's cancel reads as a cancel, with when, not DagsterExecutionInterruptedError.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import execute_without_sensors, local_config, runner_for, status_sensor_tick, sweep_tick

from gs_dagster.config import GsConfig
from gs_dagster.resources.job_table import JobRecord, open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit


def _outbox(config: GsConfig) -> list[dict]:
    return NotifierResource(outbox_dir=config.outbox_dir).outbox()


@pytest.fixture()
def no_photos(tmp_path: Path) -> Path:
    """A zip of three photos by name that are text: intake takes it (its member list holds photos), the
    frames stage fails it within seconds (none decodes)."""
    path = tmp_path / "notes.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("a.jpg", "b.jpg", "c.jpg"):
            archive.writestr(name, "no photo here")
    return path


def _failed_run(tmp_path: Path, instance: dg.DagsterInstance, media: Path):
    config = local_config(tmp_path / "data")
    runner = runner_for(config, instance)
    job = submit(media, config=config)
    tick = runner.intake_tick()
    assert [r.partition_key for r in tick.run_requests] == [job.uuid]
    result = execute_without_sensors(runner, job.uuid, tags=dict(tick.run_requests[0].tags))
    assert not result.success
    return config, runner, job.uuid, result.run_id


@pytest.mark.parametrize("order", [("RUNNING", "FAILED"), ("FAILED", "RUNNING")], ids=["start-first", "end-first"])
def test_a_runs_start_never_overwrites_its_end(
    order: tuple[str, str], tmp_path: Path, instance: dg.DagsterInstance, no_photos: Path
) -> None:
    config, runner, uuid, run_id = _failed_run(tmp_path, instance, no_photos)
    for status in order:  # end-first: the job_started sensor was stopped and is started after the failure
        status_sensor_tick(runner, run_id, status)
    record = open_job_table(config.job_table).get(uuid)
    assert (record.status, record.run_id, record.failed_at) == ("FAILED", run_id, "run")
    assert "none of the 3 images in " in record.error and "could be decoded" in record.error, record.error
    assert record.started_at and record.ended_at
    assert [(n["event"], n["details"]["run_id"]) for n in _outbox(config)] == [("FAILED", run_id)]

    status_sensor_tick(runner, run_id, "RUNNING")  # a late or repeated start event changes nothing
    status_sensor_tick(runner, run_id, "FAILED")  # nor does the end delivered again: one notice
    assert open_job_table(config.job_table).get(uuid).status == "FAILED"
    assert len(_outbox(config)) == 1


@pytest.mark.parametrize("first_end", ["old-run-first", "new-run-first"])
def test_a_rerun_that_starts_before_the_failure_is_handled_loses_no_notice(
    first_end: str, tmp_path: Path, instance: dg.DagsterInstance, no_photos: Path
) -> None:
    config, runner, uuid, first = _failed_run(tmp_path, instance, no_photos)
    second = execute_without_sensors(runner, uuid, selection=["frames"]).run_id  # the queued re-run
    status_sensor_tick(runner, first, "RUNNING")
    status_sensor_tick(runner, second, "RUNNING")  # the re-run's start is recorded before the failure
    ends = [first, second] if first_end == "old-run-first" else [second, first]
    for run_id in ends:
        status_sensor_tick(runner, run_id, "FAILED")
    record = open_job_table(config.job_table).get(uuid)
    assert (record.status, record.run_id) == ("FAILED", second)  # the record follows the newest run
    notices = {n["details"]["run_id"]: n for n in _outbox(config)}
    assert sorted(notices) == sorted([first, second]) and len(_outbox(config)) == 2
    assert all(n["event"] == "FAILED" for n in notices.values())
    if first_end == "old-run-first":
        assert f"A newer run of this job ({second}) has started since" in notices[first]["text"]


def test_a_user_cancel_reads_as_a_cancel(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    config = local_config(tmp_path)
    runner = runner_for(config, instance)
    table = open_job_table(config.job_table)
    table.create(JobRecord(uuid="c-2", status="RUNNING", spec="{}", media_uri="/bucket/media-input/c-2-kermit.zip"))
    instance.add_dynamic_partitions("jobs", ["c-2"])
    job = runner.defs.resolve_job_def("reconstruct")
    run = instance.create_run_for_job(job, tags={"dagster/partition": "c-2"}, status=dg.DagsterRunStatus.STARTED)
    instance.report_run_canceling(run)  # what the UI's Terminate does
    instance.report_run_canceled(run)
    status_sensor_tick(runner, run.run_id, "CANCELED")
    record = table.get("c-2")
    assert record.status == "CANCELED" and record.error.startswith("canceled by a user (the Dagster UI or API) at ")
    (notice,) = _outbox(config)
    assert notice["subject"] == "gs-dagster: job c-2 CANCELED: kermit.zip"
    assert notice["text"].startswith("kermit.zip (job c-2) CANCELED after ")
    assert "Canceled:\n  canceled by a user" in notice["text"] and "Interrupted" not in notice["text"]


def test_the_sweep_settles_a_run_whose_sensor_ticked_before_the_record_existed(
    tmp_path: Path, instance: dg.DagsterInstance, no_photos: Path
) -> None:
    config, runner, uuid, run_id = _failed_run(tmp_path, instance, no_photos)
    cursor, said = sweep_tick(runner, None, later_s=-3600)  # the sweep started before the run
    assert "settles runs that end from now on" in said
    cursor, said = sweep_tick(runner, cursor)  # within the grace period: left to the run-status sensor
    assert _outbox(config) == [] and "settled 0" in said
    cursor, said = sweep_tick(runner, cursor, later_s=120)
    assert "settled 1" in said
    assert open_job_table(config.job_table).get(uuid).status == "FAILED"
    status_sensor_tick(runner, run_id, "FAILED")  # the sensor's own tick afterwards sends nothing more
    assert [n["event"] for n in _outbox(config)] == ["FAILED"]
