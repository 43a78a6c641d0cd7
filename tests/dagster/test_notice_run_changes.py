"""A re-run's notice names the options its run config changed (the launchpad's training.model, maxSteps,
`overrides`, `settings`): the job's stored spec, which the record keeps, still says the job file's values,
so without it a notice of a splatfacto-mcmc retrain read like one of the job's own splatfacto (found
walking through the UI, session 12)."""

from __future__ import annotations

import dagster as dg

from gs_dagster.messages import run_notice
from gs_dagster.resources.job_table import RunOutcome
from gs_dagster.sensors.run_outcome import run_changes


def _run(config: dict) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="__ASSET_JOB", run_config={"ops": {"reconstruction": {"config": config}}})


def test_the_changes_of_a_launchpad_run_config_are_read_as_job_paths() -> None:
    config = {
        "training": {"model": "splatfacto-mcmc", "max_steps": 300},
        "sfm": {"matching_method": "job's value"},
        "overrides": {"videoProcessing.maxNumImages": 150},
        "settings": {"max_image_side": 800},
    }
    assert run_changes(_run(config)) == {
        "training.model": "splatfacto-mcmc",
        "training.maxSteps": 300,
        "videoProcessing.maxNumImages": 150,
        "setting max_image_side": 800,
    }


def test_a_run_without_changes_or_with_a_config_it_cannot_read_names_none() -> None:
    assert run_changes(dg.DagsterRun(job_name="reconstruct")) == {}
    assert run_changes(_run({"training": {"model": "job's value"}})) == {}
    assert run_changes(_run({"training": {"max_steps": "many"}})) == {}


def test_the_notice_says_which_options_the_run_changed() -> None:
    changes = {"training.model": "splatfacto-mcmc", "training.maxSteps": 300}
    outcome = RunOutcome(run_id="r", status="COMPLETE", stages=["splat", "spz", "delivery"], changes=changes)
    text = run_notice("j", outcome, dagster_url="http://x").text
    assert (
        "Options of this run (its run config; the job file's stay for later runs): "
        "training.model=splatfacto-mcmc, training.maxSteps=300"
    ) in text
    plain = run_notice("j", RunOutcome(run_id="r", status="COMPLETE"), dagster_url="http://x").text
    assert "Options of this run" not in plain
