"""One dynamic partition per job: the key is the job's uuid (added by the intake sensor)."""

from __future__ import annotations

import dagster as dg

JOBS_PARTITION = "jobs"

job_partitions = dg.DynamicPartitionsDefinition(name=JOBS_PARTITION)
