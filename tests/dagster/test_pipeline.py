"""End to end through Dagster with the real stage processes (local Pipes subprocess, small job settings).

- AWS mode on the moto server: upload -> intake tick -> partition + run request -> run -> DynamoDB record
  COMPLETE with metrics -> SNS notice (read back through an SQS subscription) -> delivered .ply/.spz;
  the same uuid uploaded again runs no second time.
- Embedded mode: re-materializing only `splat` with another maxSteps re-runs neither frames nor
  sparse_model (event log); blocking checks stop the chain; masks refuses segmentation clearly.
"""

from __future__ import annotations

import json
import tempfile
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import (
    TEST_OPTIONS,
    AwsSandbox,
    dagster_home,
    job_json,
    launches,
    local_config,
    materialized,
    runner_for,
)

from gs_dagster.assets.checks import QualityChecksResource, evaluate_stored
from gs_dagster.config import GsConfig
from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.resources.storage import open_store
from gs_dagster.submit import submit
from gs_stages.export.spz import read_spz

ALL = ["frames", "masks", "sparse_model", "splat", "spz"]
CHECKS = [("sparse_model", "registered_ratio"), ("splat", "heldout_psnr"), ("spz", "spz_reads_back")]


def _table(config: GsConfig):
    return open_job_table(config.job_table, endpoint_url=config.endpoint_url, region=config.region)


def _check_results(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    out = {}
    for record in records:
        data = record.event_log_entry.dagster_event.event_specific_data
        out[data.check_name] = data.passed
    return out


def _metadata(instance: dg.DagsterInstance, stage: str, uuid: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(stage), asset_partitions=[uuid]), limit=1
    ).records
    return {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}


def test_upload_to_notice_on_moto(aws: AwsSandbox, instance: dg.DagsterInstance, sample_zip: Path) -> None:
    config = aws.config()  # bucket, stage storage (s3://bucket/gs-storage), DynamoDB, SNS: all on moto
    runner = runner_for(config, instance)
    uuid = f"e2e-{uuidlib.uuid4().hex[:12]}"
    aws.put("media-input/orbit.zip", sample_zip.read_bytes())  # media first, like the reference
    document = job_json(uuid, aws.bucket, "orbit.zip")
    aws.put(f"workflow-input/{uuid}.json", json.dumps(document))

    tick = runner.intake_tick()
    assert tick.added_partitions == [uuid] and instance.has_dynamic_partition("jobs", uuid)
    assert [(r.run_key, r.partition_key) for r in tick.run_requests] == [(uuid, uuid)]
    assert aws.record(uuid)["status"] == "SUBMITTED"

    result = runner.execute(tick.run_requests[0])
    assert result.success
    assert materialized(instance, result.run_id) == [*ALL, "delivery"]
    (command,) = launches(instance, result.run_id)  # ONE launch for the five stages
    assert "-m gs_stages chain" in command and "--stages frames,masks,sparse_model,splat,spz" in command
    assert _check_results(instance, result.run_id) == {
        "registered_ratio": True,
        "heldout_psnr": True,
        "spz_reads_back": True,
    }

    record = aws.record(uuid)
    assert record["status"] == "COMPLETE" and record["run_id"] == result.run_id
    assert record["started_at"] and record["ended_at"] and float(record["elapsed_s"]) > 0
    metrics = record["metrics"]
    for name in ("frame_count", "registered_images", "psnr", "num_gaussians", "spz_bytes", "ply_bytes"):
        assert name in metrics, (name, metrics)
    assert int(metrics["registered_images"]) == int(metrics["frame_count"]) == 16
    spz_uri = record["outputs"][".spz"]
    assert spz_uri == f"s3://{aws.bucket}/workflow-output/{uuid}/{uuid}.spz"
    assert record["outputs"][".ply"] == f"s3://{aws.bucket}/workflow-output/{uuid}/{uuid}.ply"
    # The fly-through, thumbnail and capture cameras are delivered beside them and recorded (no .sog: off in
    # TEST_SETTINGS); the spz materialization shows the thumbnail, the delivery's links every delivered file.
    for kind, name in ((".mp4", f"{uuid}.mp4"), (".png", f"{uuid}.png"), ("cameras", "cameras.json")):
        assert record["outputs"][kind] == f"s3://{aws.bucket}/workflow-output/{uuid}/{name}"
        aws.s3.head_object(Bucket=aws.bucket, Key=f"workflow-output/{uuid}/{name}")
    spz_metadata = _metadata(instance, "spz", uuid)
    assert "Thumbnail" in spz_metadata["preview"]
    assert _metadata(instance, "delivery", uuid)["delivered_mp4"].endswith(f"{uuid}.mp4")
    assert ".sog" not in record["outputs"] and spz_metadata["details"]["sog"] == "off (engine setting sog=false)"

    with tempfile.TemporaryDirectory() as tmp:  # the delivered .spz reads back
        path = Path(tmp) / "out.spz"
        aws.s3.download_file(aws.bucket, f"workflow-output/{uuid}/{uuid}.spz", str(path))
        assert len(read_spz(path)) == int(metrics["num_gaussians"])

    (notice,) = aws.notices()
    assert notice["attributes"] == {"uuid": uuid, "event": "COMPLETE"}
    assert f"job {uuid} COMPLETE" in notice["subject"] and "PSNR" in notice["subject"]
    assert spz_uri in notice["text"] and "held-out PSNR" in notice["text"] and "Gaussians" in notice["text"]

    # The same uuid uploaded again: reported, never run a second time.
    document["training"]["maxSteps"] = 10
    aws.put(f"workflow-input/{uuid}.json", json.dumps(document))
    again = runner.intake_tick()
    assert again.run_requests == []
    assert [n["attributes"]["event"] for n in aws.notices()] == ["DUPLICATE"]
    runs = instance.get_run_records(dg.RunsFilter(tags={"gs/uuid": uuid}))
    assert len(runs) == 1 and aws.record(uuid)["status"] == "COMPLETE"


@pytest.fixture(scope="module")
def local_job(tmp_path_factory: pytest.TempPathFactory, sample_zip: Path) -> Iterator[tuple]:
    """One job reconstructed on the embedded default (local folders, SQLite, outbox), shared below."""
    root = tmp_path_factory.mktemp("embedded")
    home = dagster_home(root)
    config = local_config(root / "data")
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        runner = runner_for(config, instance)
        job = submit(sample_zip, config=config, options=TEST_OPTIONS)
        (result,) = runner.process()
        assert result.success, _table(config).get(job.uuid)
        yield config, instance, runner, job.uuid, result.run_id


def test_embedded_job_delivers_and_notifies(local_job: tuple) -> None:
    config, instance, _, uuid, run_id = local_job
    record = _table(config).get(uuid)
    assert record.status == "COMPLETE" and record.run_id == run_id
    delivered = Path(config.bucket) / "workflow-output" / uuid
    assert record.outputs[".spz"] == str(delivered / f"{uuid}.spz")
    assert (delivered / f"{uuid}.spz").is_file() and (delivered / f"{uuid}.ply").is_file()
    storage = Path(config.storage_root)
    for stage in ALL:  # each stage's output is a directory <root>/<asset>/<uuid>/
        assert (storage / stage / uuid / "metrics.json").is_file(), stage
    notices = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert [n["event"] for n in notices] == ["COMPLETE"] and str(delivered / f"{uuid}.spz") in notices[0]["text"]
    splat = _metadata(instance, "splat", uuid)
    assert "psnr" in splat and "num_gaussians" in splat and "location" in splat
    assert "![ground truth | render](data:image/jpeg;base64," in str(splat.get("preview", ""))  # labelled, inline


def test_rematerializing_only_splat_reruns_nothing_upstream(local_job: tuple) -> None:
    config, instance, runner, uuid, _ = local_job
    upstream = {s: _metadata(instance, s, uuid) for s in ("frames", "sparse_model")}
    result = runner.run_job(
        uuid,
        selection=["splat"],
        run_config={"ops": {"reconstruction": {"config": {"overrides": {"training.maxSteps": 15}}}}},
    )
    assert result.success
    assert materialized(instance, result.run_id) == ["splat"]
    (command,) = launches(instance, result.run_id)
    assert "--stages splat " in command and "--media" not in command
    # frames and sparse_model: no new materialization, in this run or anywhere
    for stage, before in upstream.items():
        assert _metadata(instance, stage, uuid) == before
    splat = _metadata(instance, "splat", uuid)
    assert splat["run"]["overrides"] == {"training.maxSteps": 15} and splat["run"]["launched_stages"] == "splat"
    spz_run = _metadata(instance, "spz", uuid)["run"]
    assert splat["run"]["spec_sha256"] != spz_run["spec_sha256"]  # spz came from the first spec
    assert _check_results(instance, result.run_id) == {"heldout_psnr": True}
    assert _table(config).get(uuid).stages == ["splat"]


def _observations(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION).records
    out = {}
    for record in records:
        observation = record.event_log_entry.dagster_event.event_specific_data.asset_observation
        out[observation.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in observation.metadata.items()
        }
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_blocking_psnr_check_keeps_the_last_good_splat(local_job: tuple) -> None:
    """A re-run whose splat fails its blocking check: the stored splat stays byte for byte, Dagster's latest
    materialization of splat is still the good one, the attempt is an observation, the record says so."""
    config, instance, _, uuid, _ = local_job
    strict = runner_for(config.with_(min_psnr_db=99.0), instance)
    delivered = Path(config.bucket) / "workflow-output" / uuid / f"{uuid}.spz"
    before = delivered.stat().st_mtime_ns
    stored = {stage: _files(Path(config.storage_root) / stage / uuid) for stage in ("splat", "spz")}
    latest = _metadata(instance, "splat", uuid)
    result = strict.run_job(uuid, selection=["splat", "spz"])
    assert not result.success
    assert materialized(instance, result.run_id) == []  # neither the bad splat nor spz (never ran on it)
    attempt = _observations(instance, result.run_id)["splat"]
    assert attempt["attempt"].startswith("failed, not kept: heldout_psnr: held-out PSNR")
    assert "psnr" in attempt and attempt["kept_output"] == str(Path(config.storage_root) / "splat" / uuid)
    assert _check_results(instance, result.run_id) == {}  # a failed check would mark the kept output failed
    assert _metadata(instance, "splat", uuid) == latest
    for stage, files in stored.items():
        assert _files(Path(config.storage_root) / stage / uuid) == files, stage
    assert delivered.stat().st_mtime_ns == before
    assert not any((Path(config.storage_root) / ".staging").iterdir())  # nothing of the attempt is left
    record = _table(config).get(uuid)
    assert record.status == "FAILED" and "heldout_psnr" in record.error and "99.00 dB" in record.error
    assert f"The last good splat output is kept: {Path(config.storage_root) / 'splat' / uuid}" in record.error
    notice = NotifierResource(outbox_dir=config.outbox_dir).outbox()[-1]
    assert notice["event"] == "FAILED" and "heldout_psnr" in notice["text"]


def _check_severities(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[bool, str]]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    out = {}
    for record in records:
        data = record.event_log_entry.dagster_event.event_specific_data
        out[data.check_name] = (data.passed, data.severity.value)
    return out


def test_weak_psnr_warns_and_still_delivers(local_job: tuple) -> None:
    """Between the two bars (a CPU draft): WARN on the check, the splat and .spz delivered, record COMPLETE."""
    config, instance, _, uuid, _ = local_job
    weak = runner_for(config.with_(min_psnr_db=5.0, warn_psnr_db=99.0), instance)
    delivered = Path(config.bucket) / "workflow-output" / uuid / f"{uuid}.spz"
    before = delivered.stat().st_mtime_ns
    result = weak.run_job(uuid, selection=["splat", "spz"])
    assert result.success
    assert materialized(instance, result.run_id) == ["splat", "spz", "delivery"]
    checks = _check_severities(instance, result.run_id)
    assert checks["heldout_psnr"] == (False, "WARN") and checks["spz_reads_back"] == (True, "ERROR")
    assert delivered.stat().st_mtime_ns > before
    record = _table(config).get(uuid)
    assert record.status == "COMPLETE" and ".spz" in record.outputs
    # The notice repeats the check's verdict in its words (gs_stages.quality_checks decides, nothing else).
    notice = NotifierResource(outbox_dir=config.outbox_dir).outbox()[-1]
    assert notice["event"] == "COMPLETE" and " dB, weak): " in notice["subject"]
    assert "  warning: splat heldout_psnr: held-out PSNR " in notice["text"]
    assert "a weak result, delivered (warning bar 99.00 dB, minimum 5.00 dB)" in notice["text"]
    # The check judged on its own from the stored output (as when selected alone in the UI) says the same.
    quality = QualityChecksResource(min_psnr_db=5.0, warn_psnr_db=99.0)
    (request,) = quality.requests([dg.AssetCheckKey(dg.AssetKey("splat"), "heldout_psnr")])
    stored = evaluate_stored(request, open_store(config.storage_root), uuid)
    assert not stored.passed and stored.severity == dg.AssetCheckSeverity.WARN
    assert "weak result, delivered" in stored.metadata["description"].value
    broken = QualityChecksResource(min_psnr_db=98.0, warn_psnr_db=99.0).requests([request.key])[0]
    assert evaluate_stored(broken, open_store(config.storage_root), uuid).severity == dg.AssetCheckSeverity.ERROR


def test_blocking_sfm_check_stops_the_chain(tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path) -> None:
    config = local_config(tmp_path, min_registered_ratio=1.01)  # unreachable: the check must fail
    runner = runner_for(config, instance)
    job = submit(sample_zip, config=config, options=TEST_OPTIONS)
    (result,) = runner.process()
    assert not result.success
    assert materialized(instance, result.run_id) == ["frames", "masks"]
    assert _observations(instance, result.run_id)["sparse_model"]["attempt"].startswith("failed, not kept")
    assert not (Path(config.storage_root) / "sparse_model" / job.uuid).exists()
    assert not (Path(config.storage_root) / "splat" / job.uuid).exists()
    record = _table(config).get(job.uuid)
    assert record.status == "FAILED" and "registered_ratio" in record.error
    assert record.stages == ["frames", "masks"]


def test_segmentation_fails_clearly(tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path) -> None:
    config = local_config(tmp_path)
    runner = runner_for(config, instance)
    job = submit(sample_zip, config=config, options={"segmentation.removeBackground": True})
    (result,) = runner.process()
    # Refused before the first stage: no frames spent on a job whose masks cannot run.
    assert not result.success and materialized(instance, result.run_id) == []
    assert not (Path(config.storage_root) / "frames" / job.uuid).exists()
    record = _table(config).get(job.uuid)
    assert record.status == "FAILED" and "needs the weights file u2net.onnx" in record.error
    assert record.error.startswith("stage masks failed: background removal (u2net)")
    notice = NotifierResource(outbox_dir=config.outbox_dir).outbox()[-1]
    assert notice["event"] == "FAILED" and "needs the weights file u2net.onnx" in notice["text"]


def test_checks_alone_judge_the_stored_outputs(local_job: tuple) -> None:
    """A check selected without its asset (e.g. after changing a threshold) reads the stored output."""
    config, instance, _, uuid, _ = local_job

    def run_checks(checks: set[dg.AssetCheckKey], **thresholds: float) -> dg.ExecuteInProcessResult:
        job = runner_for(config.with_(**thresholds), instance).defs.resolve_job_def("reconstruct")
        subset = job.get_subset(asset_selection=set(), asset_check_selection=checks)
        return subset.execute_in_process(partition_key=uuid, instance=instance, raise_on_error=False)

    every = {dg.AssetCheckKey(dg.AssetKey(stage), name) for stage, name in CHECKS}
    result = run_checks(every, min_registered_ratio=0.99)
    assert result.success and materialized(instance, result.run_id) == []  # nothing re-ran
    assert _check_results(instance, result.run_id) == dict.fromkeys(
        ("registered_ratio", "heldout_psnr", "spz_reads_back"), True
    )
    failed = run_checks({dg.AssetCheckKey(dg.AssetKey("splat"), "heldout_psnr")}, min_psnr_db=99.0)
    assert not failed.success and _check_results(instance, failed.run_id) == {"heldout_psnr": False}


def test_a_mistyped_engine_setting_in_run_config_fails_before_launching(local_job: tuple) -> None:
    config, instance, runner, uuid, _ = local_job
    result = runner.run_job(
        uuid,
        selection=["splat"],
        run_config={"ops": {"reconstruction": {"config": {"settings": {"max_image_sid": 8}}}}},
    )
    assert not result.success and launches(instance, result.run_id) == []
    message = result.failure_data_for_node("reconstruction").error.message
    assert "'max_image_sid' (did you mean 'max_image_side'?)" in message and "run config" in message
    record = _table(config).get(uuid)
    assert record.status == "FAILED" and "did you mean 'max_image_side'" in record.error


def test_a_mistyped_engine_setting_of_the_launcher_fails_when_definitions_load() -> None:
    from gs_dagster.resources.local_launcher import LocalPipesLauncher

    with pytest.raises(ValueError, match=r"'max_image_sid' \(did you mean 'max_image_side'\?\)"):
        LocalPipesLauncher(settings={"max_image_sid": 8})
    assert LocalPipesLauncher(settings={"max_image_side": 8}).settings == {"max_image_side": 8}


def test_delivery_alone_fails_clearly_then_delivers_from_the_stored_spz(local_job: tuple) -> None:
    """Re-materializing only `delivery` (its input: spz's StageFolder handle from the storage IO manager) when
    the job's output folder cannot be written (a file in its place): the run fails in delivery, and the record
    and the notice name the file, the key and the error and say re-materializing delivery delivers without
    training again. Once fixed, delivery alone delivers the stored spz: no stage process is launched, the
    files are the stored ones, the record is COMPLETE again with one notice more."""
    config, instance, runner, uuid, _ = local_job
    delivered = Path(config.bucket) / "workflow-output" / uuid
    for path in delivered.iterdir():
        path.unlink()
    delivered.rmdir()
    delivered.write_bytes(b"a file where the job's output folder goes")
    seen = len(NotifierResource(outbox_dir=config.outbox_dir).outbox())

    result = runner.run_job(uuid, selection=["delivery"])

    assert not result.success and launches(instance, result.run_id) == []
    record = _table(config).get(uuid)
    assert record.status == "FAILED"
    for words in (f"delivering {uuid}.mp4 to {delivered}/{uuid}.mp4 failed", "re-materializing delivery"):
        assert words in record.error, record.error
    notices = NotifierResource(outbox_dir=config.outbox_dir).outbox()[seen:]
    assert [n["event"] for n in notices] == ["FAILED"] and f"delivering {uuid}.mp4" in notices[0]["text"]

    delivered.unlink()
    again = runner.run_job(uuid, selection=["delivery"])

    assert again.success and materialized(instance, again.run_id) == ["delivery"]
    assert launches(instance, again.run_id) == []
    spz = Path(config.storage_root) / "spz" / uuid
    for suffix in (".ply", ".spz"):
        assert (delivered / f"{uuid}{suffix}").read_bytes() == (spz / f"{uuid}{suffix}").read_bytes()
    record = _table(config).get(uuid)
    assert record.status == "COMPLETE" and record.outputs[".spz"] == str(delivered / f"{uuid}.spz")
    handle = json.loads((Path(config.storage_root) / ".handles" / "spz" / f"{uuid}.json").read_text())
    assert handle["uri"] == str(spz) and handle["manifest"][f"{uuid}.spz"] == (spz / f"{uuid}.spz").stat().st_size
    notices = NotifierResource(outbox_dir=config.outbox_dir).outbox()[seen:]
    assert [n["event"] for n in notices] == ["FAILED", "COMPLETE"]
