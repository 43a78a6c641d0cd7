"""One dynamic partition per job: the key is the job's uuid (added by the intake sensor)."""

from __future__ import annotations

import warnings

import dagster as dg

from gs_stages.stage import STAGE_ORDER

JOBS_PARTITION = "jobs"
#: Run tags that name a run's job: Dagster's own for a run of one partition, and ours, which every run of a
#: job carries (set by the intake, added at start to runs launched otherwise: gs_dagster/sensors/run_status.py).
PARTITION_TAG = "dagster/partition"
UUID_TAG = "gs/uuid"
NAME_TAG = "gs/name"

#: The asset after the GPU chain that places the result in the bucket (assets/delivery.py), and every asset a
#: job's record follows, in order (its runs, materializations, outputs and failures).
DELIVERY = "delivery"
JOB_ASSETS: tuple[str, ...] = (*STAGE_ORDER, DELIVERY)

job_partitions = dg.DynamicPartitionsDefinition(name=JOBS_PARTITION)


def job_check_spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    """A blocking check evaluated per job partition (so the UI shows each job's result).

    Partitioned check specs are a preview feature of dagster 1.13 (pinned exactly in pyproject.toml);
    the preview warning is silenced here, once, rather than on every load of the code location.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name, asset=asset, description=description, blocking=True, partitions_def=job_partitions
        )
