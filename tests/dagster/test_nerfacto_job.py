"""A `training.model: nerfacto` job end to end through Dagster (local storage, the real stages, nerfstudio in
its own venv on the CPU): it ends COMPLETE with one record and one notice that list the delivered
`<uuid>.glb` and say there is no .spz, and the spz check passes on the mesh instead of failing."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import TEST_OPTIONS, local_config, runner_for

from gs_dagster.messages import run_notice
from gs_dagster.resources.job_table import RunOutcome, open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit
from gs_stages.export.mesh import NO_SPZ, glb_summary
from gs_stages.nerf.trainer import MAKE_VENV_PYTHON
from tests.external_venvs import external_python

NERFACTO_SETTINGS = {
    "nerfacto_export": {"num_points": 20000, "target_num_faces": 2000, "num_pixels_per_side": 256},
    "nerfacto_overrides": {"datamanager": {"train_num_rays_per_batch": 512}},
}


@pytest.mark.slow
def test_a_nerfacto_job_delivers_a_textured_glb_and_says_there_is_no_spz(
    tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path
) -> None:
    external_python(MAKE_VENV_PYTHON, "nerfstudio", "nerfstudio")
    config = local_config(tmp_path)
    config = config.with_(stage_settings={**config.stage_settings, **NERFACTO_SETTINGS})
    job = submit(sample_zip, config=config, options={**TEST_OPTIONS, "training.model": "nerfacto"})
    (result,) = runner_for(config, instance).process()
    assert result.success

    record = open_job_table(config.job_table).get(job.uuid)
    delivered = Path(config.bucket) / "workflow-output" / job.uuid
    assert record.status == "COMPLETE" and record.run_id == result.run_id
    assert record.outputs[".glb"] == str(delivered / f"{job.uuid}.glb")
    assert ".spz" not in record.outputs and not list(delivered.glob("*.spz"))
    assert glb_summary(delivered / f"{job.uuid}.glb")["images"] >= 1
    assert "psnr" in record.metrics

    (notice,) = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert notice["event"] == "COMPLETE"
    assert str(delivered / f"{job.uuid}.glb") in notice["text"] and NO_SPZ in notice["text"]


def test_the_notice_of_a_nerfacto_job_lists_the_glb_and_says_why_there_is_no_spz() -> None:
    outputs = {".glb": "/bucket/out/j.glb", ".ply": "/bucket/out/j_points.ply"}
    outcome = RunOutcome(
        run_id="r1", status="COMPLETE", stages=["splat", "spz"], outputs=outputs, metrics={"psnr": 20.5}
    )
    text = run_notice("j", outcome, dagster_url="http://127.0.0.1:3000").text
    assert "/bucket/out/j.glb" in text and "/bucket/out/j_points.ply" in text
    assert f"(no .spz: {NO_SPZ})" in text
    splat = RunOutcome(run_id="r2", status="COMPLETE", outputs={".spz": "/b/j.spz", ".ply": "/b/j.ply"})
    assert "no .spz" not in run_notice("j", splat, dagster_url="http://127.0.0.1:3000").text
