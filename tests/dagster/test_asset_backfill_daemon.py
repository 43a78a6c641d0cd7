"""An asset backfill under the Dagster daemon (issue 15 class 8): the backfill daemon launches one run per
job partition, tagged with a partition range rather than `dagster/partition`; the run-status sensors,
ticking in the same daemon, record each run in its job's record, notify once and tag the run with the
job's uuid and name. (Before, these runs were ignored and records kept their earlier outcome.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import PartitionBackfill  # no public API launches an asset backfill
from gs_testkit import TEST_MIN_PSNR, TEST_OPTIONS, TEST_SETTINGS, local_config, runner_for

from gs_dagster.config import project_dir
from gs_dagster.submit import submit
from resources.job_table import RunOutcome, open_job_table
from resources.notifier import NotifierResource

pytestmark = pytest.mark.slow


def _sensors_started(instance: dg.DagsterInstance) -> bool:
    cursors = {s.instigator_name: s.instigator_data for s in instance.all_instigator_state()}
    return all(getattr(cursors.get(n), "cursor", None) for n in ("job_started", "job_succeeded"))


def test_an_asset_backfill_under_the_daemon_updates_records_notifies_and_tags(tmp_path: Path, sample_zip: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        GS_DATA_DIR=str(data),
        GS_STAGE_SETTINGS=json.dumps(TEST_SETTINGS),
        GS_MIN_PSNR_DB=str(TEST_MIN_PSNR),
    )
    config = local_config(data)
    table = open_job_table(config.job_table)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        media = tmp_path / "kermit.zip"
        media.write_bytes(sample_zip.read_bytes())
        uuids = [submit(media, config=config, options=TEST_OPTIONS).uuid for _ in range(2)]
        assert sorted(runner_for(config, instance).intake_tick().added_partitions) == sorted(uuids)
        for uuid in uuids:  # each job ran before and failed; the operator backfills them
            table.record_run(uuid, RunOutcome("earlier", "FAILED", started_at="2026-01-01T00:00:00.000+00:00"))

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
                time.sleep(2)
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
            deadline = time.monotonic() + 300
            while True:
                records = {u: table.get(u) for u in uuids}
                outbox = NotifierResource(outbox_dir=config.outbox_dir).outbox()
                if all(r.status == "COMPLETE" for r in records.values()) and len(outbox) == 2:
                    break
                assert time.monotonic() < deadline, ({u: r.status for u, r in records.items()}, outbox)
                time.sleep(3)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=60)
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": "assetbf"}))
        assert len(runs) == 2 and all("dagster/partition" not in r.tags for r in runs)
        by_job = {r.tags["dagster/asset_partition_range_start"]: r for r in runs}
        for uuid in uuids:
            assert records[uuid].run_id == by_job[uuid].run_id and records[uuid].stages == ["frames"]
            assert (by_job[uuid].tags["gs/uuid"], by_job[uuid].tags["gs/name"]) == (uuid, "kermit.zip")
        assert sorted((n["uuid"], n["event"]) for n in outbox) == sorted((u, "COMPLETE") for u in uuids)
