"""Configuration from environment variables (documented in docs/OPERATING.md).

Two modes, chosen by `GS_BUCKET`:

- embedded (default): the "bucket" is a local folder, stage outputs go to a local folder, the job
  table is SQLite, notices go to the log and an outbox folder. Nothing needs a cloud account.
- AWS: `GS_BUCKET=s3://name`; storage defaults to `s3://name/gs-storage`, the job table to DynamoDB,
  notices to SNS when `GS_NOTIFIER` names a topic ARN. `GS_AWS_ENDPOINT_URL` (or boto3's own
  `AWS_ENDPOINT_URL`) points all three at an S3-compatible endpoint such as moto or LocalStack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gs_dagster.env_settings import EnvSettings
from gs_dagster.resources.gpu_slots import parse_devices
from gs_dagster.resources.storage import split_s3_uri
from gs_stages.capabilities import StageHost
from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES
from gs_stages.quality_checks import DEFAULT_MIN_PSNR, DEFAULT_MIN_REGISTERED_RATIO, DEFAULT_WARN_PSNR
from gs_stages.s3_keys import PrefixGrants
from gs_stages.stage import StageError, check_settings


def project_dir() -> Path:
    """The checkout (where pyproject.toml is), else the current directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or project_dir() / ".dagster_home")


def ensure_dagster_home(home: Path | None = None) -> Path:
    """A persistent DAGSTER_HOME (runs, materializations and sensor cursors survive restarts), with the
    project's dagster.yaml copied in the first time."""
    home = Path(home or default_dagster_home()).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    source = project_dir() / "dagster.yaml"
    if not target.exists() and source.is_file():
        target.write_text(source.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass(frozen=True)
class GsConfig:
    bucket: str  # s3://name or a local directory
    bucket_name: str  # what jobs must say in s3.bucketName
    storage_root: str  # s3://bucket/prefix or a local directory
    job_table: str  # sqlite:///path or dynamodb://table
    notifier: str  # "log" or an SNS topic ARN
    outbox_dir: str
    endpoint_url: str | None = None
    region: str | None = None
    intake_prefix: str = "workflow-input"
    #: Prefixes the deployment's roles may read media from / deliver to (empty: any); the Terraform's outputs.
    media_prefixes: tuple[str, ...] = ()
    output_prefixes: tuple[str, ...] = ()
    instance_types: tuple[str, ...] = DEFAULT_INSTANCE_TYPES
    media_wait_s: float = 300.0
    sensor_interval_s: int = 30
    max_keys_per_tick: int = 5000
    max_new_jobs_per_tick: int = 50
    tick_budget_s: float = 20.0
    min_registered_ratio: float = DEFAULT_MIN_REGISTERED_RATIO
    min_psnr_db: float = DEFAULT_MIN_PSNR  # under it the splat is broken: blocks delivery
    warn_psnr_db: float = DEFAULT_WARN_PSNR  # under it the splat is weak: delivered with a WARN check
    stage_settings: dict[str, Any] = field(default_factory=dict)
    dagster_url: str = "http://127.0.0.1:3000"
    launcher: str = "local"  # "local" (Pipes subprocess) or "sagemaker"
    local_gpus: str = ""  # GS_LOCAL_GPUS: CUDA devices local launches share, one each (resources/gpu_slots.py)
    progress_interval_s: float = 20.0  # GS_PROGRESS_INTERVAL_S: seconds between progress lines of a stage phase
    storage_web_url: str = ""  # GS_STORAGE_WEB_URL: http(s) URL serving the storage root (inline previews)
    #: The GS_SAGEMAKER_* variables (and region, instance types) the SageMaker launcher reads.
    sagemaker_env: dict[str, str] = field(default_factory=dict)

    @property
    def aws_mode(self) -> bool:
        return self.bucket.startswith("s3://")

    @property
    def prefix_grants(self) -> PrefixGrants:
        return PrefixGrants.parse(self.media_prefixes, self.output_prefixes)

    def with_(self, **changes: Any) -> GsConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GsConfig:
        env = os.environ if env is None else env
        typed = EnvSettings.from_env(env)  # the numbers and choices, typed and bounded (gs_dagster/env_settings.py)
        data = Path(env.get("GS_DATA_DIR") or project_dir() / ".gs-data").expanduser()
        bucket = env.get("GS_BUCKET") or str(data / "bucket")
        aws = bucket.startswith("s3://")
        if aws:
            bucket_name = env.get("GS_BUCKET_NAME") or split_s3_uri(bucket)[0]
            default_storage = f"{bucket.rstrip('/')}/gs-storage"
            default_table = "dynamodb://gs-dagster-jobs"
        else:
            bucket = str(Path(bucket).expanduser().resolve())
            bucket_name = env.get("GS_BUCKET_NAME") or "gs-local"
            default_storage = str(data / "storage")
            default_table = f"sqlite:///{data / 'jobs.sqlite3'}"
        extra_types = tuple(t.strip() for t in env.get("GS_INSTANCE_TYPES", "").split(",") if t.strip())
        settings = typed.stage_settings
        try:  # a mistyped name or a bad value fails here, when the code location loads, not in the GPU job
            check_settings(settings, where="setting in GS_STAGE_SETTINGS")
        except StageError as exc:
            raise ValueError(str(exc)) from None
        return cls(
            **typed.model_dump(),
            bucket=bucket,
            bucket_name=bucket_name,
            storage_root=env.get("GS_STORAGE_ROOT") or default_storage,
            job_table=env.get("GS_JOB_TABLE") or default_table,
            notifier=env.get("GS_NOTIFIER") or "log",
            outbox_dir=env.get("GS_OUTBOX") or str(data / "outbox"),
            endpoint_url=env.get("GS_AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            intake_prefix=(env.get("GS_INTAKE_PREFIX") or "workflow-input").strip("/"),
            media_prefixes=PrefixGrants.parse(env.get("GS_MEDIA_PREFIXES", "")).media,
            output_prefixes=PrefixGrants.parse(output=env.get("GS_OUTPUT_PREFIXES", "")).output,
            instance_types=tuple(dict.fromkeys(DEFAULT_INSTANCE_TYPES + extra_types)),
            dagster_url=(env.get("GS_DAGSTER_URL") or "http://127.0.0.1:3000").rstrip("/"),
            local_gpus=",".join(parse_devices(env.get("GS_LOCAL_GPUS", ""))),  # checked at load, not at launch
            storage_web_url=(env.get("GS_STORAGE_WEB_URL") or "").strip(),
            sagemaker_env={
                k: v
                for k, v in env.items()
                if k.startswith("GS_SAGEMAKER_") or k in ("AWS_REGION", "AWS_DEFAULT_REGION", "GS_INSTANCE_TYPES")
            },
        )

    @property
    def stage_host(self) -> StageHost:
        """Where this deployment's stages run: this machine, or the SageMaker image (gs_stages.capabilities)."""
        return StageHost(settings=self.stage_settings, in_image=self.launcher == "sagemaker")

    def _launcher(self, local: type) -> Any:
        """The stage launcher: a local Pipes subprocess, or one SageMaker training job per launch."""
        if self.launcher == "sagemaker":
            from gs_dagster.resources.sagemaker import SageMakerLauncher

            return SageMakerLauncher.from_env(
                self.sagemaker_env, settings=self.stage_settings, progress_interval_s=self.progress_interval_s
            )
        return local(settings=self.stage_settings, gpus=self.local_gpus, progress_interval_s=self.progress_interval_s)

    def resources(self) -> dict[str, Any]:
        """The resource instances of the code location."""
        from gs_dagster.assets.checks import QualityChecksResource
        from gs_dagster.resources.job_table import JobTableResource
        from gs_dagster.resources.local_launcher import LocalPipesLauncher
        from gs_dagster.resources.notifier import NotifierResource
        from gs_dagster.resources.stage_folders import StageStorage
        from gs_dagster.resources.storage import BucketResource
        from gs_dagster.sensors.intake_rules import IntakeResource

        return {
            "storage": StageStorage(
                root=self.storage_root, endpoint_url=self.endpoint_url, region=self.region, web_url=self.storage_web_url
            ),
            "bucket": BucketResource(
                root=self.bucket, endpoint_url=self.endpoint_url, region=self.region, name=self.bucket_name
            ),
            "job_table": JobTableResource(url=self.job_table, endpoint_url=self.endpoint_url, region=self.region),
            "notifier": NotifierResource(
                target=self.notifier,
                outbox_dir=self.outbox_dir,
                endpoint_url=self.endpoint_url,
                region=self.region,
                dagster_url=self.dagster_url,
            ),
            "launcher": self._launcher(LocalPipesLauncher),
            "quality": QualityChecksResource(
                min_registered_ratio=self.min_registered_ratio,
                min_psnr_db=self.min_psnr_db,
                warn_psnr_db=self.warn_psnr_db,
            ),
            "intake": IntakeResource(
                prefix=self.intake_prefix,
                instance_types=list(self.instance_types),
                media_wait_s=self.media_wait_s,
                max_keys_per_tick=self.max_keys_per_tick,
                max_new_jobs_per_tick=self.max_new_jobs_per_tick,
                tick_budget_s=self.tick_budget_s,
                media_prefixes=list(self.media_prefixes),
                output_prefixes=list(self.output_prefixes),
                stages_in_image=self.launcher == "sagemaker",
                stage_settings_json=json.dumps(self.stage_settings),
            ),
        }
