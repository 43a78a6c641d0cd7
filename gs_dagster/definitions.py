"""The code location: `frames -> masks -> sparse_model -> splat -> spz`, one dynamic partition per job.

Loaded by `workspace.yaml` (`dagster dev -w workspace.yaml`, `dagster definitions validate`). Resources
come from environment variables (gs_dagster.config, docs/OPERATING.md); `build_definitions(config)`
builds the same location for another configuration (tests, the demo).
"""

from __future__ import annotations

import dagster as dg

from gs_dagster.assets.delivery import delivery
from gs_dagster.assets.pipeline import STAGE_KEYS, reconstruction
from gs_dagster.config import GsConfig
from gs_dagster.dagster_notices import silence_code_location_notices
from gs_dagster.sensors.intake_sensor import build_intake_sensor
from gs_dagster.sensors.orphan_jobs import orphan_sensors
from gs_dagster.sensors.run_status import RUN_STATUS_SENSORS

silence_code_location_notices()

RECONSTRUCT_JOB = "reconstruct"
#: The job's assets: the GPU chain (one launch per run) and what is made from its outputs.
ASSETS = [reconstruction, delivery]

reconstruct_job = dg.define_asset_job(
    RECONSTRUCT_JOB,
    selection=dg.AssetSelection.assets(*STAGE_KEYS, delivery.key),
    description="Reconstruct one job (one partition): every stage and check in one launch, then the delivery.",
)


def build_definitions(config: GsConfig | None = None) -> dg.Definitions:
    config = config or GsConfig.from_env()
    return dg.Definitions(
        assets=ASSETS,
        jobs=[reconstruct_job],
        sensors=[
            build_intake_sensor(reconstruct_job, config.sensor_interval_s),
            *RUN_STATUS_SENSORS,
            *orphan_sensors(config.launcher, config.sagemaker_env),
        ],
        resources=config.resources(),
    )


defs = build_definitions()
