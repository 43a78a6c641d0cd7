"""A re-run that trains a new splat but does not run `delivery` (the UI's `splat`, or `splat` and `spz`,
selected without `delivery`) leaves the bucket's .ply/.spz as an earlier run delivered them. Its notice
must say so, and say how to deliver the new splat, instead of listing the bucket's files as this run's
result under this run's PSNR (found walking through the UI, session 12: the retrained splat's PSNR and
Gaussian count beside an older .spz, the check's "weak result, delivered" under it). The advice after a
failure names `delivery` with the stages to re-run, since without it nothing new reaches the bucket."""

from __future__ import annotations

from gs_dagster.messages import run_notice
from gs_dagster.resources.job_table import RunOutcome
from gs_dagster.retry_hints import retry_hint

URL = "http://127.0.0.1:3000"
OUTPUTS = {".spz": "/bucket/workflow-output/j/j.spz", ".ply": "/bucket/workflow-output/j/j.ply"}


def _outcome(stages: list[str], status: str = "COMPLETE") -> RunOutcome:
    return RunOutcome(run_id="r2", status=status, stages=stages, outputs=dict(OUTPUTS), metrics={"psnr": 15.1})


def test_a_splat_rerun_without_delivery_says_the_bucket_holds_an_earlier_runs_files() -> None:
    notice = run_notice("j", _outcome(["splat"]), dagster_url=URL)
    text = notice.text
    assert "Results:" not in text
    assert "Delivered files (from an earlier run; this run delivered nothing):" in text
    assert OUTPUTS[".spz"] in text
    assert "This run's splat is not delivered" in text
    assert "select spz, delivery of partition j and materialize them" in text
    # The subject stays as it was: at most 100 characters, and a uuid's job with a longer note lost its name.
    assert notice.subject == "gs-dagster: job j COMPLETE (PSNR 15.1 dB)"


def test_a_splat_and_spz_rerun_without_delivery_says_to_materialize_delivery_alone() -> None:
    text = run_notice("j", _outcome(["splat", "spz"]), dagster_url=URL).text
    assert "This run's splat and spz are not delivered" in text
    assert "select delivery of partition j and materialize it" in text


def test_a_run_with_delivery_lists_its_results_as_before() -> None:
    notice = run_notice("j", _outcome(["splat", "spz", "delivery"]), dagster_url=URL)
    assert "Results:\n  " + OUTPUTS[".spz"] in notice.text
    assert "not delivered" not in notice.text and "earlier run" not in notice.text
    assert notice.subject == "gs-dagster: job j COMPLETE (PSNR 15.1 dB)"


def test_a_failed_rerun_names_the_kept_files_as_an_earlier_runs() -> None:
    text = run_notice("j", _outcome([], status="FAILED"), dagster_url=URL).text
    assert "Delivered files (from an earlier run; this run delivered nothing):" in text
    assert "This run's" not in text  # it trained nothing new


def test_retry_advice_includes_delivery() -> None:
    assert "select splat, spz, delivery of partition j" in retry_hint("j", "splat")
    retrain = retry_hint("j", "splat", ["splat:heldout_psnr"], max_steps=300)
    assert "select the assets splat, spz and delivery, partition j" in retrain


def test_a_failed_delivery_is_retried_alone_not_by_running_the_job_again() -> None:
    hint = retry_hint("j", "delivery")
    assert "select delivery of partition j and materialize it" in hint
    assert "re-materialize the job" not in hint
