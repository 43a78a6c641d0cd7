"""The `job_intake` sensor: Dagster's schedule for `Intake` ticks (gs_dagster/sensors/intake.py), which does the
work; this module turns one tick into the sensor's run requests, new partitions and cursor."""

from typing import Any

import dagster as dg

from gs_dagster.partitions import JOBS_PARTITION
from gs_dagster.resources.job_table import JobTableResource
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.resources.storage import StorageResource
from gs_dagster.sensors.intake import Intake
from gs_dagster.sensors.intake_cursor import IntakeCursor
from gs_dagster.sensors.intake_rules import IntakeResource


def build_intake_sensor(job: Any, interval_s: int = 30) -> dg.SensorDefinition:
    @dg.sensor(
        name="job_intake",
        job=job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Validates new job JSON files under the intake prefix, records them, requests one run per uuid.",
    )
    def job_intake(
        context: dg.SensorEvaluationContext,
        bucket: StorageResource,
        job_table: JobTableResource,
        notifier: NotifierResource,
        intake: IntakeResource,
    ) -> dg.SensorResult:
        tick = Intake(
            bucket=bucket,
            job_table=job_table.table(),
            notifier=notifier,
            settings=intake,
            instance=context.instance,
            logger=context.log,
        ).tick(IntakeCursor.parse(context.cursor))
        if tick.handled or tick.deferred or tick.errors:  # a tick that found nothing new says so in its skip reason
            context.log.info(f"intake {bucket.uri_of(intake.prefix)}: {tick.summary()}")
        partitions = (
            [dg.AddDynamicPartitionsRequest(JOBS_PARTITION, sorted(set(tick.new_partitions)))]
            if tick.new_partitions
            else []
        )
        return dg.SensorResult(
            run_requests=tick.run_requests,
            dynamic_partitions_requests=partitions,
            cursor=tick.cursor.dump(),
            skip_reason=None if tick.run_requests else tick.summary(),
        )

    return job_intake
