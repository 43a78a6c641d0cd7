"""Every run of a job updates its record, notifies and carries the job's tags, however it was launched
(issue 15 class 8, issue 16 names): the intake sensor's run, a launchpad run (partition tag only), an
asset backfill's run (a one-key partition range, as Dagster's backfill daemon requests with the
multi-run policy) and a single-run backfill over two jobs (a two-key range)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import TEST_OPTIONS, execute_without_sensors, local_config, runner_for, status_sensor_tick

from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.mark.parametrize("launch", ["intake-sensor", "launchpad", "asset-backfill"])
def test_every_launch_of_a_job_is_recorded_notified_and_tagged(
    launch: str, tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path
) -> None:
    config = local_config(tmp_path / "data")
    runner = runner_for(config, instance)
    media = tmp_path / "kermit.zip"
    media.write_bytes(sample_zip.read_bytes())
    uuid = submit(media, config=config, options=TEST_OPTIONS).uuid
    (request,) = runner.intake_tick().run_requests
    if launch == "intake-sensor":
        assert request.tags["gs/uuid"] == uuid and request.tags["gs/name"] == "kermit.zip"
    tags = {
        "intake-sensor": dict(request.tags),
        "launchpad": {},
        "asset-backfill": {RANGE_START: uuid, RANGE_END: uuid, "dagster/backfill": "bf1"},
    }[launch]
    result = execute_without_sensors(runner, uuid, selection=["frames"], tags=tags)
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert ("dagster/partition" in run.tags) == (launch != "asset-backfill")

    status_sensor_tick(runner, result.run_id, "RUNNING")
    status_sensor_tick(runner, result.run_id, "COMPLETE")
    run = instance.get_run_by_id(result.run_id)
    assert (run.tags["gs/uuid"], run.tags["gs/name"]) == (uuid, "kermit.zip")
    record = open_job_table(config.job_table).get(uuid)
    assert (record.status, record.run_id, record.stages) == ("COMPLETE", result.run_id, ["frames"])
    (notice,) = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert notice["event"] == "COMPLETE" and notice["subject"] == f"gs-dagster: job {uuid} COMPLETE: kermit.zip"
    assert instance.get_runs(dg.RunsFilter(tags={"gs/name": "kermit.zip"}))[0].run_id == result.run_id


def test_a_single_run_backfill_over_two_jobs_records_and_notifies_both(
    tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path
) -> None:
    config = local_config(tmp_path / "data")
    runner = runner_for(config, instance)
    uuids = [submit(sample_zip, config=config, options=TEST_OPTIONS).uuid for _ in range(2)]
    assert len(runner.intake_tick().run_requests) == 2
    first, last = instance.get_dynamic_partitions("jobs")[0], instance.get_dynamic_partitions("jobs")[-1]
    result = execute_without_sensors(runner, uuids[0], tags={RANGE_START: first, RANGE_END: last})
    status_sensor_tick(runner, result.run_id, "RUNNING")
    status_sensor_tick(runner, result.run_id, "FAILED")  # the stage asset takes one job per run
    table = open_job_table(config.job_table)
    assert {u: (table.get(u).status, table.get(u).run_id) for u in uuids} == {
        u: ("FAILED", result.run_id) for u in uuids
    }
    notices = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert sorted(n["uuid"] for n in notices) == sorted(uuids)
    assert instance.get_run_by_id(result.run_id).tags["gs/name"] == "orbit.zip, orbit.zip"
