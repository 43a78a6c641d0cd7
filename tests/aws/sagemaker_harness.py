"""A test harness that plays SageMaker against a moto server (real HTTP).

`FakeSageMaker` stands in for the boto3 SageMaker client: CreateTrainingJob goes to moto (which records
the job), then the harness does what SageMaker does with the request: lays out an `/opt/ml` tree in a
temporary directory (hyperparameters.json, inputdataconfig.json, one directory per input channel
downloaded from S3, /opt/ml/checkpoints restored from the CheckpointConfig location), runs the
container entrypoint with the request's Environment, syncs the checkpoints back and reports the job's
status: Completed, Failed with the container's /opt/ml/output/failure as FailureReason, or Stopped
after StopTrainingJob (SIGTERM to the container). DescribeTrainingJob answers moto's record with the
harness's status fields on top. `restarts` replays a managed-spot interruption: a container that
exits 143 without a stop request is started again, with a fresh local disk and the same checkpoints.
`image` runs a built image (infra/image/build_local.sh) in place of this checkout's entrypoint, the way
SageMaker starts it: `docker run <image> train` as root, /opt/ml mounted, the request's Environment
(tests/aws/image_run.py).
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .image_run import ImageRun

HERE = Path(__file__).resolve().parent
FAULTS_RUNNER = HERE / "container_faults.py"


@dataclass
class PlayedJob:
    request: dict[str, Any]
    opt_ml: Path
    status: str = "InProgress"
    secondary: str = "Starting"
    failure_reason: str | None = None
    billable_seconds: int | None = None
    exit_codes: list[int] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)  # time.time() of each container start
    stop_requested: bool = False
    process: subprocess.Popen | None = None
    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)


class FakeSageMaker:
    def __init__(
        self,
        backend: Any,
        s3: Any,
        workdir: Path,
        env: dict[str, str],
        *,
        faults: list[str | None] | None = None,
        restarts: int = 0,
        pipes_interval: float = 0.3,
        image: ImageRun | None = None,
    ):
        if image is not None and faults:
            raise ValueError("faults are injected by a runner of this checkout; a built image has none")
        self.backend, self.s3, self.workdir, self.env = backend, s3, Path(workdir), env
        self.faults = list(faults or [])  # GS_TEST_FAULT of the 1st, 2nd... container start
        self.restarts = restarts
        self.pipes_interval = pipes_interval
        self.image = image
        self.meta = backend.meta
        self.requests: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.describes = 0
        self.jobs: dict[str, PlayedJob] = {}

    # -- the SageMaker API the client uses ---------------------------------------------------------------
    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.requests.append(copy.deepcopy(request))
        response = self.backend.create_training_job(**request)
        name = request["TrainingJobName"]
        job = PlayedJob(request=request, opt_ml=self.workdir / name / "opt" / "ml")
        self.jobs[name] = job
        job.thread = threading.Thread(target=self._play, args=(job,), daemon=True)
        job.thread.start()
        return response

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.describes += 1
        record = self.backend.describe_training_job(TrainingJobName=TrainingJobName)
        job = self.jobs[TrainingJobName]
        record.pop("FailureReason", None)
        record.update(TrainingJobStatus=job.status, SecondaryStatus=job.secondary)
        record["EnableManagedSpotTraining"] = bool(job.request.get("EnableManagedSpotTraining"))
        if job.failure_reason:
            record["FailureReason"] = job.failure_reason
        if job.billable_seconds is not None:
            record["BillableTimeInSeconds"] = job.billable_seconds
            record["TrainingTimeInSeconds"] = job.billable_seconds
        return record

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.stopped.append(TrainingJobName)
        job = self.jobs[TrainingJobName]
        job.stop_requested = True
        if job.status == "InProgress":
            job.status, job.secondary = "Stopping", "Stopping"
        if job.process is not None and job.process.poll() is None:
            job.process.send_signal(signal.SIGTERM)
        return {}

    # -- playing the job ---------------------------------------------------------------------------------
    def _download_prefix(self, uri: str, target: Path) -> int:
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        count = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix) :].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, obj["Key"], str(path))
                count += 1
        return count

    def _upload_dir(self, directory: Path, uri: str) -> None:
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                key = f"{prefix.rstrip('/')}/{path.relative_to(directory).as_posix()}"
                self.s3.upload_file(str(path), bucket, key)

    def _layout(self, job: PlayedJob) -> None:
        request, base = job.request, job.opt_ml
        config = base / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(request["HyperParameters"]))
        (config / "inputdataconfig.json").write_text(
            json.dumps(
                {
                    c["ChannelName"]: {"TrainingInputMode": c.get("InputMode", "File")}
                    for c in request["InputDataConfig"]
                }
            )
        )
        (config / "resourceconfig.json").write_text(
            json.dumps(
                {
                    "current_host": "algo-1",
                    "hosts": ["algo-1"],
                    "current_instance_type": request["ResourceConfig"]["InstanceType"],
                }
            )
        )
        for channel in request["InputDataConfig"]:
            target = base / "input" / "data" / channel["ChannelName"]
            target.mkdir(parents=True)
            if self._download_prefix(channel["DataSource"]["S3DataSource"]["S3Uri"], target) == 0:
                raise RuntimeError(
                    f"ClientError: No S3 objects found under {channel['DataSource']['S3DataSource']['S3Uri']}"
                )
        for name in ("model", "output"):
            (base / name).mkdir(parents=True, exist_ok=True)
        if "CheckpointConfig" in request:
            (base / "checkpoints").mkdir()
            self._download_prefix(request["CheckpointConfig"]["S3Uri"], base / "checkpoints")

    def _play(self, job: PlayedJob) -> None:
        started = time.monotonic()
        try:
            self._layout(job)
        except Exception as exc:
            job.failure_reason, job.status, job.secondary = str(exc), "Failed", "Failed"
            job.done.set()
            return
        job.secondary = "Training"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES_")}
        env.update(self.env)
        env.update(job.request.get("Environment", {}))
        env.update({"GS_OPT_ML": str(job.opt_ml), "GS_PIPES_INTERVAL": str(self.pipes_interval)})
        for start in range(1 + self.restarts):
            fault = self.faults[start] if start < len(self.faults) else None
            command = [sys.executable, "-m", "gs_stages.sagemaker_entry", "train"]
            if fault:
                command = [sys.executable, str(FAULTS_RUNNER), "train"]
            run_env = {**env, "GS_WORK_DIR": str(job.opt_ml.parent / f"work-{start}"), "GS_TEST_FAULT": fault or ""}
            if self.image is not None:
                container_env = {**self.env, **job.request.get("Environment", {})}
                container_env["GS_PIPES_INTERVAL"] = str(self.pipes_interval)
                command = self.image.command(f"{job.request['TrainingJobName']}-{start}", job.opt_ml, container_env)
                run_env = dict(os.environ)
                self.image.fresh_disk(job.opt_ml)
            job.started_at.append(time.time())
            with open(job.opt_ml.parent / f"container-{start}.log", "w") as log:
                job.process = subprocess.Popen(command, env=run_env, stdout=log, stderr=subprocess.STDOUT)
                code = job.process.wait()
            job.exit_codes.append(code)
            if code == 143 and not job.stop_requested and start < self.restarts:
                job.secondary = "Interrupted"  # spot capacity reclaimed; SageMaker restarts the container
                continue
            break
        if "CheckpointConfig" in job.request:
            self._upload_dir(job.opt_ml / "checkpoints", job.request["CheckpointConfig"]["S3Uri"])
        job.billable_seconds = max(1, math.ceil(time.monotonic() - started))
        failure = job.opt_ml / "output" / "failure"
        if job.stop_requested:
            job.status, job.secondary = "Stopped", "Stopped"
        elif job.exit_codes[-1] == 0:
            job.status, job.secondary = "Completed", "Completed"
        else:
            job.status, job.secondary = "Failed", "Failed"
            job.failure_reason = (
                failure.read_text() if failure.exists() else f"AlgorithmError: exit code {job.exit_codes[-1]}"
            )
        job.done.set()

    def kill_containers(self) -> None:
        """Kill what is still running of the image's containers (test teardown)."""
        if self.image is not None:
            for name, job in self.jobs.items():
                if not job.done.is_set():
                    for start in range(len(job.started_at)):
                        self.image.kill(f"{name}-{start}")

    def container_log(self, name: str, start: int = 0) -> str:
        return (self.jobs[name].opt_ml.parent / f"container-{start}.log").read_text()
