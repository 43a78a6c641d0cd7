"""A stage that kept its output but warns about its input (the frames stage on a video that stopped
decoding part-way: session 12's walk-through completed such a job from 16 of its 50 frames, and only the
stage's log said so) shows the warning as its own entry in the UI and has the job's notice repeat it."""

from __future__ import annotations

import dagster as dg

from gs_dagster.assets.results import result_metadata
from gs_dagster.messages import run_notice
from gs_dagster.resources.job_table import RunOutcome
from gs_dagster.sensors.run_outcome import quality_warnings

WARNING = "the video v.mp4 decoded only up to frame 16 (1.6 s) of the 50 frames it was to be read to"


def test_the_warning_is_an_entry_of_its_own_after_the_headline() -> None:
    metadata = result_metadata("frames", {"frame_count": 16, "warning": WARNING}, links={}, run={})
    assert list(metadata)[:2] == ["frame_count", "warning"]
    assert metadata["warning"] == WARNING and "warning" not in metadata["details"].value


def test_the_notice_of_the_run_repeats_a_stage_warning() -> None:
    @dg.asset(name="frames")
    def frames() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"frame_count": 16, "warning": WARNING})

    @dg.asset(name="masks")
    def masks() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"frames": 16})

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([frames, masks], instance=instance)
        warnings = quality_warnings(instance, result.run_id)
    assert warnings == [f"frames: {WARNING}"]
    outcome = RunOutcome(run_id=result.run_id, status="COMPLETE", stages=["frames", "delivery"], warnings=warnings)
    assert f"  warning: frames: {WARNING}" in run_notice("j", outcome, dagster_url="http://x").text
