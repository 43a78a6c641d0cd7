"""A notice's quality figures say which were made by an earlier run: the record's figures are each stage's
latest, so a canceled run, one that failed before training, or a re-run of one stage showed the previous
run's PSNR and Gaussians under its own "Quality:" as if it had made them (found walking through the UI,
session 12)."""

from __future__ import annotations

import dagster as dg

from gs_dagster.messages import run_notice
from gs_dagster.partitions import JOBS_PARTITION, job_partitions
from gs_dagster.resources.job_table import RunOutcome
from gs_dagster.sensors.run_outcome import latest_figures


def _stage(name: str, metadata: dict) -> dg.AssetsDefinition:
    @dg.asset(name=name, partitions_def=job_partitions)
    def stage() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=metadata)

    return stage


def test_figures_of_stages_a_run_did_not_materialize_are_named_earlier() -> None:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(JOBS_PARTITION, ["j"])
    first = dg.materialize(
        [_stage("sparse_model", {"registered_images": 40}), _stage("splat", {"psnr": 21.5, "num_gaussians": 900})],
        partition_key="j",
        instance=instance,
    )
    retrain = dg.materialize(
        [_stage("splat", {"psnr": 24.25, "num_gaussians": 1200})], partition_key="j", instance=instance
    )

    metrics, _, earlier = latest_figures(instance, "j", retrain.run_id)
    assert metrics == {"registered_images": 40, "psnr": 24.25, "num_gaussians": 1200}
    assert earlier == ["registered_images"]
    assert latest_figures(instance, "j", first.run_id)[2] == ["num_gaussians", "psnr"]
    assert latest_figures(instance, "j")[2] == []  # no run to compare with: nothing is named earlier

    canceled = RunOutcome(run_id="r3", status="CANCELED", metrics=metrics, earlier_figures=sorted(metrics))
    text = run_notice("j", canceled, dagster_url="http://x").text
    assert "  held-out PSNR: 24.25 dB (an earlier run's)" in text
    assert "  registered images: 40 (an earlier run's)" in text
    own = RunOutcome(run_id=retrain.run_id, status="COMPLETE", metrics=metrics, earlier_figures=earlier)
    text = run_notice("j", own, dagster_url="http://x").text
    assert "  held-out PSNR: 24.25 dB\n" in text and "  registered images: 40 (an earlier run's)" in text
