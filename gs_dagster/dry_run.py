"""`python -m gs_dagster.dry_run`: print the exact CreateTrainingJob request of one launch, without AWS.

    python -m gs_dagster.dry_run                      # the default job, every stage
    python -m gs_dagster.dry_run --spec job.json --stages splat,spz --spot

The request is built by the same code as a real launch (resources.sagemaker_request): the job name, channels,
hyperparameters, tags and the two Pipes bootstrap variables, encoded exactly as SageMaker receives them
(only the random part of the Pipes context key is seeded, for a stable example). Deployment values
come from the GS_SAGEMAKER_* variables (`terraform output dagster_env`) when set, else placeholders.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR, encode_param

from gs_dagster.resources.sagemaker import SageMakerLauncher
from gs_dagster.resources.sagemaker_pipes import pipes_io
from gs_dagster.resources.sagemaker_request import (
    SageMakerSettings,
    build_create_training_job_request,
    training_job_name,
)
from gs_stages.jobspec import JobSpec, parse_job
from gs_stages.stage import STAGE_ORDER

ACCOUNT = "123456789012"
EXAMPLE_RUN_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
STEP_KEY = "reconstruction"  # the multi-asset that launches the stages (assets/pipeline.py)


def placeholder_env(region: str = "us-east-1") -> dict[str, str]:
    """What `terraform output dagster_env` looks like for account 123456789012 and the default names."""
    return {
        "AWS_REGION": region,
        "GS_BUCKET": f"s3://gs-dagster-data-{ACCOUNT}-{region}",
        "GS_STORAGE_ROOT": f"s3://gs-dagster-data-{ACCOUNT}-{region}/gs-storage",
        "GS_SAGEMAKER_IMAGE_URI": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/gs-dagster-trainer:0.1.0",
        "GS_SAGEMAKER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/gs-dagster-sagemaker",
        "GS_SAGEMAKER_KMS_KEY_ID": f"arn:aws:kms:{region}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "GS_SAGEMAKER_JOB_NAME_PREFIX": "gs",
    }


def default_spec(bucket: str) -> JobSpec:
    """The reference system's minimal job: every option at its default."""
    return parse_job({"uuid": "example-job", "s3": {"bucketName": bucket, "inputKey": "example-job.mp4"}})


class _NoUpload:
    """Stands in for S3 where the context injector would upload the context object."""

    def put_object(self, **kwargs: Any) -> None:
        pass

    def delete_object(self, **kwargs: Any) -> None:
        pass


def dry_run_request(
    settings: SageMakerSettings,
    spec: JobSpec,
    stages: Sequence[str],
    *,
    run_id: str = EXAMPLE_RUN_ID,
    attempt: int = 0,
    engine_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    job_name = training_job_name(
        settings.job_name_prefix, spec.uuid, run_id=run_id, step_key=STEP_KEY, attempt=attempt, stages=stages
    )
    injector, reader = pipes_io(settings, job_name, _NoUpload())
    state = random.getstate()
    random.seed(job_name)
    try:
        with ExitStack() as stack:
            context_params = stack.enter_context(injector.inject_context({}))  # type: ignore[arg-type]
            message_params = stack.enter_context(reader.get_params())
    finally:
        random.setstate(state)
    environment = {
        DAGSTER_PIPES_CONTEXT_ENV_VAR: encode_param(context_params),
        DAGSTER_PIPES_MESSAGES_ENV_VAR: encode_param(message_params),
    }
    return build_create_training_job_request(
        settings,
        spec,
        stages,
        job_name=job_name,
        environment=environment,
        run_id=run_id,
        attempt=attempt,
        engine_settings=engine_settings,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gs_dagster.dry_run", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", help="job JSON (default: the minimal default job)")
    parser.add_argument("--stages", default=",".join(STAGE_ORDER), help="comma-separated stages of one launch")
    parser.add_argument("--spot", action="store_true", help="managed spot training")
    parser.add_argument("--run-id", default=EXAMPLE_RUN_ID)
    parser.add_argument("--attempt", type=int, default=0)
    args = parser.parse_args(argv)

    env = dict(os.environ) if os.environ.get("GS_SAGEMAKER_IMAGE_URI") else placeholder_env()
    launcher = SageMakerLauncher.from_env(env, spot=args.spot)
    bucket = env.get("GS_BUCKET", "").removeprefix("s3://").strip("/")
    storage_root = env.get("GS_STORAGE_ROOT") or f"s3://{bucket}/gs-storage"
    settings = launcher.sagemaker_settings(storage_root)
    spec = parse_job(Path(args.spec).read_bytes()) if args.spec else default_spec(bucket)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    request = dry_run_request(settings, spec, stages, run_id=args.run_id, attempt=args.attempt)
    json.dump(request, sys.stdout, indent=2)
    sys.stdout.write("\n")
    lengths = ", ".join(f"{k} {len(v)}" for k, v in request["Environment"].items())
    name = request["TrainingJobName"]
    print(f"# {name}: {len(name)} characters; environment value lengths: {lengths}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
