"""A failed run's notice says how to try again from the stage that failed (issue 15 class 9): a splat that
fails its held-out PSNR check is retrained with more steps (splat and spz re-materialized, the run config
to use), an SfM result that fails its check re-runs from sparse_model; the stages before are kept."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from gs_testkit import TEST_OPTIONS, local_config, runner_for

from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit


def _failure_notice(config, uuid: str) -> dict:
    (notice,) = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert notice["event"] == "FAILED" and notice["uuid"] == uuid
    assert open_job_table(config.job_table).get(uuid).status == "FAILED"
    return notice


def test_a_low_psnr_failure_says_to_retrain_the_splat_with_more_steps(
    tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path
) -> None:
    config = local_config(tmp_path, min_psnr_db=99.0)
    job = submit(sample_zip, config=config, options=TEST_OPTIONS)
    (result,) = runner_for(config, instance).process()
    assert not result.success
    notice = _failure_notice(config, job.uuid)
    assert notice["details"]["stage"] == "splat"
    assert (
        "To retrain with more steps: in the Dagster UI select the assets splat, spz and delivery, partition "
        f"{job.uuid}, and materialize them with a run config that trains longer (e.g. 40 steps: "
        "ops: {reconstruction: {config: {overrides: {training.maxSteps: 40}}}}). frames and sparse_model are "
        "kept and not run again."
    ) in notice["text"]
    assert "re-materialize the job" not in notice["text"]


def test_an_sfm_failure_says_to_rerun_from_sparse_model(
    tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path
) -> None:
    config = local_config(tmp_path, min_registered_ratio=1.01)  # unreachable: the check fails
    job = submit(sample_zip, config=config, options=TEST_OPTIONS)
    (result,) = runner_for(config, instance).process()
    assert not result.success
    text = _failure_notice(config, job.uuid)["text"]
    assert (
        f"in the Dagster UI select sparse_model, splat, spz, delivery of partition {job.uuid} and materialize them "
        "(changed options go in the run config: ops: {reconstruction: {config: {overrides: {...}}}}); frames, "
        "masks are kept and not run again."
    ) in text
