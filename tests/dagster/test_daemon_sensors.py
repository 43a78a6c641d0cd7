"""The run-status sensors ticking under `dagster-daemon run` (a persistent instance, the code location from
workspace.yaml):

- issue 15 class 1: the sensors were stopped (the daemon down) while a job failed fast; started again,
  job_started and job_failed both catch up in whatever order the daemon takes them, and the record ends
  FAILED (not RUNNING for ever) with one notice;
- issue 15 class 8: an asset backfill's runs (tagged with a partition range rather than
  `dagster/partition`) are recorded in each job's record, notified once and tagged with the job's uuid
  and name. (Before, these runs were ignored and records kept their earlier outcome.)"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.execution.backfill import PartitionBackfill  # no public API launches an asset backfill
from gs_testkit import (
    TEST_MIN_PSNR,
    TEST_OPTIONS,
    TEST_SETTINGS,
    local_config,
    runner_for,
)

from gs_dagster.config import project_dir
from gs_dagster.resources.job_table import RunOutcome, open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit

pytestmark = pytest.mark.slow


def _sensors_started(instance: dg.DagsterInstance) -> bool:
    cursors = {s.instigator_name: s.instigator_data for s in instance.all_instigator_state()}
    return all(getattr(cursors.get(n), "cursor", None) for n in ("job_started", "job_succeeded", "job_failed"))


@contextlib.contextmanager
def _daemon(instance: dg.DagsterInstance, env: dict[str, str]) -> Iterator[None]:
    """`dagster-daemon run` until the block ends, once its run-status sensors have ticked."""
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=project_dir(),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _sensors_started(instance):
            assert daemon.poll() is None and time.monotonic() < deadline, "the daemon's sensors did not start"
            time.sleep(0.5)
        yield
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)


def _home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        GS_DATA_DIR=str(tmp_path / "data"),
        GS_STAGE_SETTINGS=json.dumps(TEST_SETTINGS),
        GS_MIN_PSNR_DB=str(TEST_MIN_PSNR),
    )
    return home, env


def _wait_for(check: Callable[[], Any], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, check
        time.sleep(0.5)  # a check is a few SQLite reads: polling often costs little, waiting long costs seconds


def _dagster(env: dict[str, str], *args: str) -> None:
    command = [str(Path(sys.executable).parent / "dagster"), *args, "-w", "workspace.yaml"]
    subprocess.run(command, cwd=project_dir(), env=env, check=True, capture_output=True, timeout=120)


def _cursor_event_id(instance: dg.DagsterInstance, sensor: str) -> int:
    """The storage id of the last event a run-status sensor went past (its cursor)."""
    state = {s.instigator_name: s for s in instance.all_instigator_state()}[sensor]
    return int(json.loads(state.instigator_data.cursor or "{}").get("record_id") or 0)


def test_the_job_started_sensor_started_after_a_fast_failure_leaves_it_failed(tmp_path: Path) -> None:
    home, env = _home(tmp_path)
    env["GS_SENSOR_INTERVAL_S"] = "5"
    config = local_config(tmp_path / "data")
    table = open_job_table(config.job_table)
    outbox = NotifierResource(outbox_dir=config.outbox_dir)
    media = tmp_path / "notes.zip"
    with zipfile.ZipFile(media, "w") as archive:
        for name in ("a.jpg", "b.jpg", "c.jpg"):  # photos by name only: taken in, fails in frames in seconds
            archive.writestr(name, "no photo here")
    with dg.DagsterInstance.local_temp(str(home)) as instance, _daemon(instance, env):
        _dagster(env, "sensor", "stop", "job_started")
        uuid = submit(media, config=config).uuid  # the daemon's intake sensor takes it in and launches it

        def failed() -> bool:
            record = table.get(uuid)
            return record is not None and record.status == "FAILED" and len(outbox.outbox()) == 1

        _wait_for(failed, 240)
        run_id = table.get(uuid).run_id
        start = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START).records[-1].storage_id
        assert _cursor_event_id(instance, "job_started") < start  # it has not seen the run's start yet
        _dagster(env, "sensor", "start", "job_started")
        _wait_for(lambda: _cursor_event_id(instance, "job_started") >= start, 120)  # now it has
        record = table.get(uuid)
        assert (record.status, record.run_id, record.failed_at) == ("FAILED", run_id, "run")
        assert [(n["event"], n["details"]["run_id"]) for n in outbox.outbox()] == [("FAILED", run_id)]
        assert instance.get_run_by_id(run_id).tags["gs/name"] == "notes.zip"


def test_an_asset_backfill_under_the_daemon_updates_records_notifies_and_tags(tmp_path: Path, sample_zip: Path) -> None:
    home, env = _home(tmp_path)
    config = local_config(tmp_path / "data")
    table = open_job_table(config.job_table)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        media = tmp_path / "kermit.zip"
        media.write_bytes(sample_zip.read_bytes())
        uuids = [submit(media, config=config, options=TEST_OPTIONS).uuid for _ in range(2)]
        assert sorted(runner_for(config, instance).intake_tick().added_partitions) == sorted(uuids)
        for uuid in uuids:  # each job ran before and failed; the operator backfills them
            table.record_run(uuid, RunOutcome("earlier", "FAILED", started_at="2026-01-01T00:00:00.000+00:00"))

        with _daemon(instance, env):
            defs = runner_for(config, instance).defs
            backfill = PartitionBackfill.from_asset_partitions(
                backfill_id="assetbf",
                asset_graph=defs.resolve_asset_graph(),
                partition_names=uuids,
                asset_selection=[dg.AssetKey("frames")],
                backfill_timestamp=time.time(),
                tags={},
                dynamic_partitions_store=instance,
                all_partitions=False,
                title=None,
                description=None,
                run_config=None,
            )
            instance.add_backfill(backfill)
            outbox = NotifierResource(outbox_dir=config.outbox_dir)

            def done() -> bool:  # records, notices, and the job tags the run-status sensor adds to backfill runs
                tagged = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": "assetbf"}))
                finished = all(table.get(u).status == "COMPLETE" for u in uuids) and len(outbox.outbox()) == 2
                return finished and len(tagged) == 2 and all("gs/uuid" in r.tags for r in tagged)

            _wait_for(done, 300)
        records = {u: table.get(u) for u in uuids}
        notices = outbox.outbox()
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": "assetbf"}))
        assert len(runs) == 2 and all("dagster/partition" not in r.tags for r in runs)
        by_job = {r.tags["dagster/asset_partition_range_start"]: r for r in runs}
        for uuid in uuids:
            assert records[uuid].run_id == by_job[uuid].run_id and records[uuid].stages == ["frames"]
            assert (by_job[uuid].tags["gs/uuid"], by_job[uuid].tags["gs/name"]) == (uuid, "kermit.zip")
        assert sorted((n["uuid"], n["event"]) for n in notices) == sorted((u, "COMPLETE") for u in uuids)
