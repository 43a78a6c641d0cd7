"""The contract between the SageMaker launcher and the training container, in one place both sides import.

The launcher (resources/sagemaker_request.py, resources/sagemaker_client.py) puts these names in the
CreateTrainingJob request; the entrypoint (gs_stages/sagemaker_entry.py) reads them. Standard library
only, so the Dagster side imports it without the engine.
"""

from __future__ import annotations

import os
import zlib
from base64 import b64decode
from pathlib import Path

OPT_ML_ENV = "GS_OPT_ML"
WORK_DIR_ENV = "GS_WORK_DIR"
PIPES_INTERVAL_ENV = "GS_PIPES_INTERVAL"
RUN_AS_ENV = "GS_RUN_AS"  # the image's unprivileged user: the stages run as it (see drop_privileges)
HP_STAGES = "stages"  # comma-separated stage names, in any order
HP_OUTPUT_ROOT = "output_root"  # s3://bucket/prefix of the `<root>/<stage>/<uuid>/` layout
HP_JOB_NAME = "job_name"  # this training job's name: completion markers name it
HP_SPEC = "spec"  # the job JSON
HP_SPEC_Z = "spec_z"  # the job JSON, zlib + base64, when it is longer than a hyperparameter may be
HP_SETTINGS = "settings"  # JSON object of engine settings (optional)
MEDIA_CHANNEL = "media"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"  # CheckpointConfig.LocalPath; relocated with GS_OPT_ML
MARKER = "_sagemaker_complete.json"  # written last into each published stage dir
FAILURE_MAX_CHARS = 1000  # SageMaker keeps the first 1024 characters of /opt/ml/output/failure
EXIT_TERMINATED = 143


def opt_ml() -> Path:
    return Path(os.environ.get(OPT_ML_ENV, "/opt/ml"))


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ValueError(f"not an s3://bucket/prefix URI: {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.strip("/")


def decode_spec(hyperparameters: dict[str, str]) -> bytes:
    if HP_SPEC in hyperparameters:
        return hyperparameters[HP_SPEC].encode()
    if HP_SPEC_Z in hyperparameters:
        return zlib.decompress(b64decode(hyperparameters[HP_SPEC_Z]))
    raise KeyError(f"hyperparameters carry no job spec ({HP_SPEC} or {HP_SPEC_Z})")
