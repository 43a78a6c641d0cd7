"""A backfill over three job partitions really runs all three: `dagster job backfill` against a persistent
instance (temporary DAGSTER_HOME) launches one run per partition through the instance's run launcher;
each run is a run worker process that launches the stage chain under Pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from gs_testkit import TEST_MIN_PSNR, TEST_OPTIONS, TEST_SETTINGS, local_config, materialized, runner_for

from gs_dagster.config import project_dir
from gs_dagster.resources.job_table import open_job_table
from gs_dagster.submit import submit

ALL = ["frames", "masks", "sparse_model", "splat", "spz"]


def test_backfill_over_three_jobs_runs_all_three(tmp_path: Path, sample_zip: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    # Runs launch at once (no daemon here to dequeue them), each in its own run worker process.
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
        GS_WARN_PSNR_DB=str(TEST_MIN_PSNR),
    )
    config = local_config(data)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        # Three jobs submitted and taken in by the intake sensor (records + partitions), not run yet.
        uuids = [
            submit(sample_zip, config=config, options={**TEST_OPTIONS, "training.maxSteps": 10 + i}).uuid
            for i in range(3)
        ]
        tick = runner_for(config, instance).intake_tick()
        assert sorted(tick.added_partitions) == sorted(uuids)

        dagster = Path(sys.executable).parent / "dagster"
        started = time.monotonic()
        command = [str(dagster), "job", "backfill", "-w", "workspace.yaml", "-j", "reconstruct", "--noprompt"]
        subprocess.run(
            [*command, "--partitions", ",".join(uuids)],
            cwd=project_dir(),
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        deadline = time.monotonic() + 240
        while True:
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": instance.get_backfills()[0].backfill_id}))
            if len(runs) == 3 and all(r.is_finished for r in runs):
                break
            assert time.monotonic() < deadline, [(r.run_id, r.status) for r in runs]
            time.sleep(0.5)
        print(f"\nbackfill of 3 jobs: {time.monotonic() - started:.1f} s")
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(uuids)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.run_id, r.status) for r in runs]
        for run in runs:
            assert materialized(instance, run.run_id) == [*ALL, "delivery"]
    table = open_job_table(config.job_table)
    for uuid in uuids:
        assert (Path(config.bucket) / "workflow-output" / uuid / f"{uuid}.spz").is_file()
        assert table.get(uuid) is not None
