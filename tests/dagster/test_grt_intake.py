"""training.model 3dgrt at intake: accepted where the stages will find NVIDIA 3DGRUT's environment, refused
(one FAILED record, one notice, no run) where they would not, naming what is missing and where it goes.

Local launcher: the stages run on this machine, so its 3DGRUT Python (engine setting grt_python, else
GS_3DGRUT_PYTHON, else the image's path) must exist here. SageMaker launcher: the image built by
container/Dockerfile carries it, so intake accepts and the splat stage checks it inside the image."""

from __future__ import annotations

import importlib
import json
import stat
import time
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import AwsSandbox, job_json, local_config, runner_for

from gs_dagster import cli
from gs_dagster.config import GsConfig
from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_stages.capabilities import StageHost, unsupported
from gs_stages.cli import run_chain, run_stage
from gs_stages.grt.environment import PYTHON_ENV
from gs_stages.stage import NotAvailableError, StageError
from tests.stages.jobs import make_spec


@pytest.fixture(autouse=True)
def _no_3dgrut_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PYTHON_ENV, raising=False)  # each test says where 3DGRUT's Python is


def _python(tmp_path: Path, body: str = "exit 1") -> Path:
    """An executable standing where 3DGRUT's Python would be (intake checks that it exists, no more)."""
    path = tmp_path / "grt-env" / "bin" / "python"
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _drop_job(config: GsConfig, uuid: str) -> None:
    bucket = Path(config.bucket)
    (bucket / "media-input").mkdir(parents=True, exist_ok=True)
    (bucket / "media-input" / f"{uuid}.zip").write_bytes(b"PK\x03\x04 not opened at intake")
    (bucket / "workflow-input").mkdir(parents=True, exist_ok=True)
    document = job_json(uuid, "gs-local", f"{uuid}.zip", **{"training.model": "3dgrt"})
    (bucket / "workflow-input" / f"{uuid}.json").write_text(json.dumps(document))


def test_refused_without_3dgruts_environment_with_one_record_and_one_notice(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    missing = tmp_path / "nowhere" / "bin" / "python"
    config = local_config(tmp_path)
    config = config.with_(stage_settings={**config.stage_settings, "grt_python": str(missing)})
    _drop_job(config, "rt-1")

    tick = runner_for(config, instance).intake_tick()

    assert tick.run_requests == [] and tick.added_partitions == []  # no run, no GPU minute spent
    record = open_job_table(config.job_table).get("rt-1")
    assert record is not None and record.status == "FAILED" and record.failed_at == "intake"
    assert "training.model '3dgrt' is not available in this build: it needs NVIDIA 3DGRUT's environment" in record.error
    assert f"{missing} does not exist" in record.error
    assert "docs/DEPLOYING.md" in record.error and "grt_python" in record.error and PYTHON_ENV in record.error
    outbox = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert [n["uuid"] for n in outbox] == ["rt-1"] and "3DGRUT" in outbox[0]["text"]
    assert runner_for(config, instance).intake_tick().run_requests == []  # handled once: no second notice
    assert len(NotifierResource(outbox_dir=config.outbox_dir).outbox()) == 1


def test_accepted_where_its_environment_is(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    config = local_config(tmp_path)
    config = config.with_(stage_settings={**config.stage_settings, "grt_python": str(_python(tmp_path))})
    _drop_job(config, "rt-2")

    tick = runner_for(config, instance).intake_tick()

    assert [r.partition_key for r in tick.run_requests] == ["rt-2"]
    record = open_job_table(config.job_table).get("rt-2")
    assert record is not None and record.status == "SUBMITTED"
    assert NotifierResource(outbox_dir=config.outbox_dir).outbox() == []


def test_the_sagemaker_launcher_trusts_the_image(aws: AwsSandbox, instance: dg.DagsterInstance) -> None:
    """The orchestrator has no 3DGRUT; the training image has (container/Dockerfile): accepted."""
    sagemaker = {
        "GS_SAGEMAKER_IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/gs:1",
        "AWS_REGION": "us-east-1",
    }
    sagemaker["GS_SAGEMAKER_ROLE_ARN"] = "arn:aws:iam::123456789012:role/gs"
    config = aws.config(launcher="sagemaker", sagemaker_env=sagemaker)
    aws.put("media-input/rt-3.zip", b"PK\x03\x04 not opened at intake")
    aws.put(
        "workflow-input/rt-3.json", json.dumps(job_json("rt-3", aws.bucket, "rt-3.zip", **{"training.model": "3dgrt"}))
    )

    tick = runner_for(config, instance).intake_tick()

    assert [r.partition_key for r in tick.run_requests] == ["rt-3"]
    assert aws.record("rt-3")["status"] == "SUBMITTED" and aws.notices() == []
    assert config.stage_host.in_image and not local_config(Path("/tmp")).stage_host.in_image


def test_the_capability_check_follows_the_setting_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(**{"training.model": "3dgrt"})
    python = _python(tmp_path)
    assert unsupported(spec, host=StageHost({"grt_python": str(python)})) == []
    (problem,) = unsupported(spec, host=StageHost({"grt_python": str(tmp_path / "no-python")}))
    assert problem.path == "training.model" and problem.not_available and "docs/DEPLOYING.md" in problem.hint
    assert unsupported(spec, host=StageHost({"grt_python": str(tmp_path / "no-python")}, in_image=True)) == []
    assert unsupported(make_spec(**{"training.model": "3dgrt", "training.enable": False})) == []
    monkeypatch.setenv(PYTHON_ENV, str(python))
    assert unsupported(spec) == []  # GS_3DGRUT_PYTHON, on this machine


def test_submit_follows_the_deployment(embedded_env: Path, sample_zip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(["submit", str(sample_zip), "--set", "training.model=3dgrt"]) == 2  # no 3DGRUT here
    assert not (embedded_env / "bucket" / "workflow-input").exists()
    monkeypatch.setenv("GS_STAGE_SETTINGS", json.dumps({"grt_python": str(_python(embedded_env.parent))}))
    assert cli.main(["submit", str(sample_zip), "--set", "training.model=3dgrt"]) == 0
    (job_file,) = (embedded_env / "bucket" / "workflow-input").glob("*.json")
    assert json.loads(job_file.read_text())["training"]["model"] == "3dgrt"


def test_a_chain_checks_3dgruts_python_before_its_first_stage(tmp_path: Path) -> None:
    """A Python that cannot import 3DGRUT fails the chain in seconds, before frames and SfM run."""
    spec = make_spec(**{"training.model": "3dgrt"})
    media = tmp_path / "media.zip"
    media.write_bytes(b"never read")
    broken = _python(tmp_path, body="echo \"ModuleNotFoundError: No module named 'threedgrut'\" >&2; exit 1")
    started = time.perf_counter()
    with pytest.raises(StageError, match="cannot import 3DGRUT: ModuleNotFoundError: No module named 'threedgrut'"):
        run_chain(["frames", "sparse_model", "splat"], spec, tmp_path / "root", media, {"grt_python": str(broken)})
    assert time.perf_counter() - started < 5.0 and not (tmp_path / "root").exists()
    with pytest.raises(NotAvailableError, match="3DGRUT's environment"):
        run_chain(["splat"], spec, tmp_path / "root", None, {"grt_python": str(tmp_path / "none")})


def test_the_splat_stage_alone_refuses_at_once_before_reading_anything(tmp_path: Path) -> None:
    spec = make_spec(**{"training.model": "3dgrt"})
    inputs = {"frames": tmp_path / "missing-frames", "sparse_model": tmp_path / "missing-sparse"}
    importlib.import_module("gs_stages.splat.stage")  # torch and the renderers load once, outside the timing
    started = time.perf_counter()
    with pytest.raises(NotAvailableError, match="'3dgrt' is not available in this build: it needs NVIDIA 3DGRUT"):
        run_stage("splat", spec, inputs, tmp_path / "out", {"grt_python": str(tmp_path / "none")})
    assert time.perf_counter() - started < 2.0 and not (tmp_path / "out" / "splat.ply").exists()


def test_on_a_machine_without_a_gpu_the_splat_stage_says_so_before_reading(tmp_path: Path) -> None:
    """A 3DGRUT Python that imports (here one that exits 0) is not enough: 3DGRT ray-traces on an NVIDIA GPU."""
    spec = make_spec(**{"training.model": "3dgrt"})
    inputs = {"frames": tmp_path / "missing-frames", "sparse_model": tmp_path / "missing-sparse"}
    settings = {"grt_python": str(_python(tmp_path, body="exit 0")), "device": "cpu"}
    with pytest.raises(StageError, match="3dgrt ray-traces with OptiX on an NVIDIA GPU; this stage runs on cpu"):
        run_stage("splat", spec, inputs, tmp_path / "out", settings)
    assert not (tmp_path / "out" / "splat.ply").exists()
