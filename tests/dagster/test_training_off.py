"""Jobs that skip a part of the pipeline, end to end through Dagster (local storage, the real stages):

- `training.enable: false` (stop after SfM) ends COMPLETE and delivers the SfM result: the COLMAP model
  `sparse/0/` and `<uuid>_points.ply`, listed in the job record and the notice;
- `sfm.enable: false` with a COLMAP model in the zip uses that model as given (nothing re-estimated)
  and trains from it; with a transforms.json (fox) its poses are used and, training off too, the posed
  model is delivered.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import dagster as dg
import pycolmap
import pytest
from gs_testkit import TEST_OPTIONS, local_config, materialized, runner_for

from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit
from gs_stages.export.sparse import read_points_ply
from gs_stages.export.spz import read_spz
from tests.shared_data import DATA

ALL = ["frames", "masks", "sparse_model", "splat", "spz"]


def _checks(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return {e.check_name: e.passed for e in evaluations}


def _metadata(instance: dg.DagsterInstance, stage: str, uuid: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(stage), asset_partitions=[uuid]), limit=1
    ).records
    metadata = {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}
    return {**metadata.pop("details", {}), **metadata}  # the stage's other metrics are grouped under details


def test_training_off_ends_complete_with_the_sparse_model_delivered(
    tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path
) -> None:
    config = local_config(tmp_path)
    job = submit(sample_zip, config=config, options={**TEST_OPTIONS, "training.enable": False})
    (result,) = runner_for(config, instance).process()
    assert result.success
    assert materialized(instance, result.run_id) == [*ALL, "delivery"]
    assert _checks(instance, result.run_id) == dict.fromkeys(
        ["registered_ratio", "heldout_psnr", "spz_reads_back"], True
    )

    record = open_job_table(config.job_table).get(job.uuid)
    delivered = Path(config.bucket) / "workflow-output" / job.uuid
    assert record.status == "COMPLETE" and record.run_id == result.run_id
    assert record.outputs[".ply"] == str(delivered / f"{job.uuid}_points.ply")
    assert record.outputs["sparse"] == str(delivered / "sparse" / "0") + "/"
    assert ".spz" not in record.outputs and not list(delivered.glob("*.spz"))
    names = {p.name for p in (delivered / "sparse" / "0").iterdir()}  # (COLMAP 3.12+ adds rigs and frames)
    assert {f"{n}.{s}" for n in ("cameras", "images", "points3D") for s in ("bin", "txt")} <= names
    model = pycolmap.Reconstruction(str(delivered / "sparse" / "0"))
    assert model.num_reg_images() == 16
    assert read_points_ply(delivered / f"{job.uuid}_points.ply") == model.num_points3D() > 0

    (notice,) = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert notice["event"] == "COMPLETE"
    assert str(delivered / f"{job.uuid}_points.ply") in notice["text"] and str(delivered / "sparse") in notice["text"]
    assert _metadata(instance, "splat", job.uuid)["trained"] is False


@pytest.fixture(scope="module")
def statue_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The statue's 40 photos with its COLMAP model (binary) in sparse/0/, as a user would zip them."""
    source = DATA / "statue_of_liberty_colmap"
    path = tmp_path_factory.mktemp("statue") / "statue.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for image in sorted((source / "images").glob("*.jpg")):
            archive.write(image, f"images/{image.name}")
        for model in sorted((source / "sparse" / "0").glob("*.bin")):
            archive.write(model, f"sparse/0/{model.name}")
    return path


def test_sfm_off_with_a_colmap_model_trains_from_the_model_as_given(
    tmp_path: Path, instance: dg.DagsterInstance, statue_zip: Path
) -> None:
    config = local_config(tmp_path)
    options = {**TEST_OPTIONS, "sfm.enable": False, "sfm.posePriors.usePosePriorColmapModelFiles": True}
    job = submit(statue_zip, config=config, options=options)
    (result,) = runner_for(config, instance).process()
    assert result.success, open_job_table(config.job_table).get(job.uuid)
    assert materialized(instance, result.run_id) == [*ALL, "delivery"]

    sparse = _metadata(instance, "sparse_model", job.uuid)
    assert sparse["pose_source"] == "colmap_model"
    assert (sparse["registered_images"], sparse["points3d"]) == (40, 1816)  # the model's own counts
    assert "features" not in sparse["timings_s"]  # nothing re-estimated
    record = open_job_table(config.job_table).get(job.uuid)
    assert record.status == "COMPLETE"
    spz = Path(record.outputs[".spz"])
    assert len(read_spz(spz)) == int(record.metrics["num_gaussians"]) > 0


def test_sfm_off_with_transforms_json_and_training_off_delivers_the_posed_model(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """The fox capture with its transforms.json, sfm.enable and training.enable false: the poses are used as
    given (points triangulated with them held fixed), and the job ends COMPLETE with that model delivered."""
    source = DATA / "fox"
    media = tmp_path / "fox.zip"
    with zipfile.ZipFile(media, "w", zipfile.ZIP_STORED) as archive:
        archive.write(source / "transforms.json", "transforms.json")
        for image in sorted((source / "images").glob("*.jpg")):
            archive.write(image, f"images/{image.name}")
    config = local_config(tmp_path / "data")
    options = {
        "sfm.enable": False,
        "sfm.posePriors.usePosePriorTransformJson.enable": True,
        "sfm.posePriors.usePosePriorTransformJson.sourceCoordinateName": "opengl",
        "sfm.posePriors.usePosePriorTransformJson.poseIsWorldToCam": False,
        "training.enable": False,
    }
    job = submit(media, config=config, options=options)
    (result,) = runner_for(config, instance).process()
    record = open_job_table(config.job_table).get(job.uuid)
    assert result.success, record
    sparse = _metadata(instance, "sparse_model", job.uuid)
    assert sparse["pose_source"] == "transforms_json" and sparse["registered_images"] == 50
    assert record.status == "COMPLETE" and record.outputs["sparse"].endswith(f"{job.uuid}/sparse/0/")
    model = pycolmap.Reconstruction(record.outputs["sparse"])
    assert model.num_reg_images() == 50 and model.num_points3D() > 0
