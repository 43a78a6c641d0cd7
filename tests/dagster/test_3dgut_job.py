"""A 3dgut job end to end through Dagster: the statue's photos and its SIMPLE_RADIAL COLMAP model (k = -0.684),
SfM off, trained through that lens without undistortion; the job ends COMPLETE with its .spz."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from gs_testkit import TEST_OPTIONS, local_config, materialized, runner_for

from gs_dagster.resources.job_table import open_job_table
from gs_dagster.submit import submit
from gs_stages.export.spz import read_spz
from tests.dagster.test_training_off import ALL, _metadata, statue_zip  # noqa: F401  (statue_zip: a fixture)


def test_a_3dgut_job_trains_the_statue_through_its_lens(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    statue_zip: Path,  # noqa: F811
) -> None:
    # 20 CPU steps of 3dgut through the statue's lens at 80x120 score 7.14 dB held out (issue #12, measured with
    # the stage at the same size); before the footprint floor and splatfacto's start they scored 4.6-5.0 dB,
    # which this floor refuses. Quality at full length is the GPU round's (docs/BENCHMARKS.md).
    config = local_config(tmp_path, min_psnr_db=6.0, warn_psnr_db=6.0)
    options = {
        **TEST_OPTIONS,
        "sfm.enable": False,
        "sfm.posePriors.usePosePriorColmapModelFiles": True,
        "training.model": "3dgut",
    }
    job = submit(statue_zip, config=config, options=options)
    (result,) = runner_for(config, instance).process()
    record = open_job_table(config.job_table).get(job.uuid)
    assert result.success, record
    assert materialized(instance, result.run_id) == [*ALL, "delivery"]
    splat = _metadata(instance, "splat", job.uuid)
    assert (splat["model"], splat["undistorted"]) == ("3dgut", False)
    assert splat["lenses"] == ["pinhole with distortion"]
    assert record.status == "COMPLETE"
    assert len(read_spz(Path(record.outputs[".spz"]))) == int(record.metrics["num_gaussians"]) > 0
