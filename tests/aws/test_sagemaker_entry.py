"""The container entrypoint by itself in an /opt/ml layout (GS_OPT_ML relocates it), against moto S3;
and the checkpoint/resume path of a spot restart through the client."""

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from gs_dagster.resources.sagemaker_client import PipesSageMakerClient
from gs_dagster.resources.sagemaker_request import SageMakerSettings, build_create_training_job_request
from gs_stages import sagemaker_entry as entry

from .conftest import BUCKET, IMAGE, ROLE, ROOT_PREFIX, Job, make_spec

SETTINGS = SageMakerSettings(image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}")


def _opt_ml(tmp_path: Path, hyperparameters: dict[str, str], channels: dict[str, dict[str, bytes]]) -> Path:
    base = tmp_path / "opt" / "ml"
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    for channel, files in channels.items():
        for name, body in files.items():
            path = base / "input" / "data" / channel / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
    return base


def _run(base: Path, aws: dict[str, str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PIPES_", "GS_"))}
    return subprocess.run(
        [sys.executable, "-m", "gs_stages.sagemaker_entry", "train"],
        env={**clean, **aws, entry.OPT_ML_ENV: str(base), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _request(spec, stages):
    return build_create_training_job_request(
        SETTINGS, spec, stages, job_name=f"gs-{spec.uuid}-direct", environment={}, run_id="direct-run"
    )


def test_entrypoint_runs_the_chain_and_publishes_without_pipes(tmp_path, aws, s3, job: Job):
    request = _request(job.spec, ["masks"])
    images = {f"images/{i:06d}.jpg": b"jpeg" for i in range(job.frames)}
    base = _opt_ml(tmp_path, request["HyperParameters"], {"frames": images})
    done = _run(base, aws)
    assert done.returncode == 0, done.stderr
    prefix = f"{ROOT_PREFIX}/.staging/gs-{job.uuid}-direct/masks/{job.uuid}"  # the job's staging prefix
    marker = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/{entry.MARKER}")["Body"].read())
    assert marker["training_job"] == f"gs-{job.uuid}-direct" and marker["metrics"]["frames"] == job.frames
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/metrics.json")["Body"].read())["frames"] == 3
    assert not (base / "output" / "failure").exists()


def test_entrypoint_failure_goes_to_opt_ml_output_failure(tmp_path, aws, s3, job: Job):
    spec = make_spec(job.uuid, segmentation={"removeHumanSubject": True})
    base = _opt_ml(tmp_path, _request(spec, ["masks"])["HyperParameters"], {"frames": {"images/0.jpg": b"x"}})
    done = _run(base, aws)
    assert done.returncode == 2
    failure = (base / "output" / "failure").read_text()
    assert failure.startswith("masks: human subject removal") and "What to try" in failure

    broken = _opt_ml(tmp_path / "broken", {"stages": "masks"}, {})
    done = _run(broken, aws)
    assert done.returncode == 1
    assert (broken / "output" / "failure").read_text().startswith("container setup: KeyError")


def test_stages_do_not_run_as_root(tmp_path):
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this machine")
    writable = tmp_path / "output"
    (writable / "sub").mkdir(parents=True)
    (writable / "sub" / "file").write_text("x")
    code = (
        "import os, sys; from pathlib import Path; from gs_stages.sagemaker_entry import drop_privileges;"
        f"user = drop_privileges([Path({str(writable)!r})]);"
        f"Path({str(writable)!r}, 'written').write_text('ok');"
        "print(user, os.geteuid(), os.getegid())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "GS_RUN_AS": "nobody"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["nobody", str(nobody.pw_uid), str(nobody.pw_gid)]
    assert (writable / "sub" / "file").stat().st_uid == nobody.pw_uid
    assert (writable / "written").stat().st_uid == nobody.pw_uid


def test_spot_restart_resumes_training_from_the_checkpoints(make_harness, s3, job: Job):
    for name, body in {"sparse/0/cameras.bin": b"c", "metrics.json": b"{}"}.items():
        s3.put_object(Bucket=BUCKET, Key=f"{ROOT_PREFIX}/sparse_model/{job.uuid}/{name}", Body=body)
    harness = make_harness(faults=["fake-splat", "fake-splat"], restarts=1)
    client = PipesSageMakerClient(
        SageMakerSettings(image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}", spot=True),
        sagemaker_client=harness,
        s3_client=s3,
        message_interval=0.5,
        poll_initial=0.2,
        poll_max=1.0,
    )

    @dg.asset(name="splat")
    def splat(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return client.run(context=context, spec=job.spec, stages=["splat"]).get_materialize_result()

    result = dg.materialize([splat])
    (name,) = harness.jobs
    played = harness.jobs[name]
    assert played.exit_codes == [143, 0], harness.container_log(name, 0)
    channels = {c["ChannelName"] for c in played.request["InputDataConfig"]}
    assert channels == {"frames", "sparse_model"}  # masks never ran: no channel
    (materialization,) = result.asset_materializations_for_node("splat")
    assert materialization.metadata["resumed_from"].value == 1  # the trainer found its checkpoint
    assert materialization.metadata["checkpoint_dir_is_link"].value is True
    checkpoint_uri = played.request["CheckpointConfig"]["S3Uri"]
    checkpoint_key = checkpoint_uri.split("/", 3)[3] + "step.txt"
    assert s3.get_object(Bucket=BUCKET, Key=checkpoint_key)["Body"].read() == b"2"
    output = s3.get_object(Bucket=BUCKET, Key=f"{ROOT_PREFIX}/splat/{job.uuid}/checkpoints/step.txt")
    assert output["Body"].read() == b"2"


def test_the_publishing_reporter_answers_everything_a_stage_asks_a_reporter() -> None:
    """The container installs PublishingReporter as gs_stages' reporter: every public method of Reporter
    must be there, delegated (the SfM stage asks which checks Dagster requested, for its registration bar)."""
    from gs_stages.reporter import Reporter

    asked = {name for name in dir(Reporter) if not name.startswith("_")}
    assert asked <= set(dir(entry.PublishingReporter)), asked - set(dir(entry.PublishingReporter))
    inner = Reporter()
    publishing = entry.PublishingReporter(inner, publisher=None, history=[])  # type: ignore[arg-type]
    assert (
        publishing.requested_checks("sparse_model") == []
        and publishing.progress_interval_s == inner.progress_interval_s
    )
