"""A re-run never loses a stage's last good output, and Dagster's view stays what storage holds (local
storage, the real stage processes; faults injected into the stage CLI by tests/dagster/stage_faults.py).

- a stage whose Pipes messages are lost but that finished is kept and materialized (from storage);
- a stage process killed mid-stage (SIGKILL) leaves the stored output byte for byte, records nothing;
- a canceled run (the step interrupted while the stage runs) leaves it too, and no staging behind;
- a promotion cut between its two renames by a killed Dagster process is finished by the next launch;
- a torn Pipes message line (the reader dies, later reports are lost, the process exits 1) loses no
  stage that finished: storage says they did.
"""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import TEST_OPTIONS, local_config, materialized, runner_for
from stage_faults import FAULT_ENV, python_wrapper

from gs_dagster.config import GsConfig
from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.stage_outputs import STAGING
from gs_dagster.submit import submit


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _latest(instance: dg.DagsterInstance, stage: str, uuid: str) -> dg.EventLogRecord:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(stage), asset_partitions=[uuid]), limit=1
    ).records
    return records[0]


@pytest.fixture(scope="module")
def good_job(tmp_path_factory: pytest.TempPathFactory, sample_zip: Path) -> Iterator[tuple]:
    root = tmp_path_factory.mktemp("last-good")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = local_config(root / "data")
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        job = submit(sample_zip, config=config, options=TEST_OPTIONS)
        (result,) = runner_for(config, instance).process()
        assert result.success
        yield config, instance, job.uuid, root


@pytest.fixture()
def faulty(monkeypatch: pytest.MonkeyPatch, good_job: tuple):
    """A runner whose launcher runs the stage CLI with `fault` injected."""
    config, instance, _, root = good_job
    python = python_wrapper(root)

    def make(fault: str):
        monkeypatch.setenv(FAULT_ENV, fault)
        monkeypatch.setattr(
            GsConfig, "_launcher", lambda self, local: local(settings=self.stage_settings, python=python)
        )
        return runner_for(config, instance)

    return make


def _record(config: GsConfig, uuid: str):
    return open_job_table(config.job_table).get(uuid)


def test_a_finished_stage_whose_report_was_lost_is_kept_and_materialized(good_job: tuple, faulty) -> None:
    config, instance, uuid, _ = good_job
    result = faulty("drop-reports:splat").run_job(uuid, selection=["splat", "spz"])
    assert result.success
    assert materialized(instance, result.run_id) == ["splat", "spz", "delivery"]
    splat = _latest(instance, "splat", uuid)
    assert splat.run_id == result.run_id
    metadata = {k: getattr(v, "value", v) for k, v in splat.asset_materialization.metadata.items()}
    assert metadata["reported_from"].startswith("storage") and metadata["psnr"] > 0 and metadata["num_gaussians"] > 0
    # The check the lost messages carried is judged from the stored output instead.
    checks = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    judged = {r.event_log_entry.dagster_event.event_specific_data.check_name for r in checks.records}
    assert judged == {"heldout_psnr", "spz_reads_back"}
    stored = Path(config.storage_root) / "splat" / uuid
    assert (stored / "splat.ply").is_file() and (stored / "metrics.json").is_file()
    assert _record(config, uuid).status == "COMPLETE"


def test_a_stage_killed_midway_leaves_the_last_good_output(good_job: tuple, faulty) -> None:
    config, instance, uuid, _ = good_job
    stored = Path(config.storage_root) / "splat" / uuid
    before, latest = _files(stored), _latest(instance, "splat", uuid).storage_id
    result = faulty("kill-in:splat").run_job(uuid, selection=["splat", "spz"])
    assert not result.success
    assert materialized(instance, result.run_id) == []
    assert _files(stored) == before  # the half-written splat.ply of the killed process is nowhere
    assert _latest(instance, "splat", uuid).storage_id == latest
    assert not any((Path(config.storage_root) / STAGING).iterdir())
    record = _record(config, uuid)
    assert record.status == "FAILED" and "exited with code -9" in record.error
    assert f"The last good splat output is kept: {stored}" in record.error


def test_a_canceled_run_leaves_the_last_good_output(good_job: tuple, faulty) -> None:
    config, instance, uuid, _ = good_job
    stored = Path(config.storage_root) / "splat" / uuid
    before, latest = _files(stored), _latest(instance, "splat", uuid).storage_id
    staging = Path(config.storage_root) / STAGING
    runner = faulty("hang-in:splat")

    def interrupt_once_the_stage_writes() -> None:  # what a cancel does to the step: an interrupt
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(staging.glob(f"*/splat/{uuid}/splat.ply")):
                time.sleep(0.5)
                _thread.interrupt_main()
                return
            time.sleep(0.2)

    threading.Thread(target=interrupt_once_the_stage_writes, daemon=True).start()
    result = runner.run_job(uuid, selection=["splat", "spz"])
    assert not result.success and materialized(instance, result.run_id) == []
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("execution interrupted, sending SIGINT to the stage process" in m for m in logs)
    assert _files(stored) == before
    assert _latest(instance, "splat", uuid).storage_id == latest
    assert not any(staging.iterdir())  # the attempt's staging is gone with it


def test_a_promotion_cut_short_is_finished_by_the_next_launch(good_job: tuple, faulty) -> None:
    """A Dagster process killed between the two renames of a promotion (no splat/<uuid>, only the parked
    old one) and its staging root left behind: the next launch that reads splat puts it back."""
    config, instance, uuid, _ = good_job
    storage = Path(config.storage_root)
    stored = storage / "splat" / uuid
    before = _files(stored)
    stored.rename(stored.with_name(f".{uuid}.replaced"))
    left = storage / STAGING / f"{uuid}.999999999.dead" / "splat" / uuid
    left.mkdir(parents=True)
    (left / "splat.ply").write_bytes(b"half")
    result = faulty("").run_job(uuid, selection=["spz"])
    assert result.success and materialized(instance, result.run_id) == ["spz", "delivery"]
    assert _files(stored) == before
    assert not (storage / STAGING / f"{uuid}.999999999.dead").exists()


def test_a_torn_message_line_loses_no_finished_stage(good_job: tuple, faulty) -> None:
    """Half a message line after splat's report (what a file tail can hand over), and the process exits 1:
    whatever the reader makes of the rest, both stages finished, so both are kept, materialized, delivered."""
    config, instance, uuid, _ = good_job
    delivered = Path(config.bucket) / "workflow-output" / uuid / f"{uuid}.spz"
    before = delivered.stat().st_mtime_ns
    result = faulty("torn-line-after:splat").run_job(uuid, selection=["splat", "spz"])
    assert result.success
    assert materialized(instance, result.run_id) == ["splat", "spz", "delivery"]
    spz = _latest(instance, "spz", uuid)
    assert spz.run_id == result.run_id
    assert spz.asset_materialization.metadata["reported_from"].value.startswith("storage")  # its line was lost
    assert delivered.stat().st_mtime_ns != before
    assert _record(config, uuid).status == "COMPLETE"
