"""Process jobs in this process, without the Dagster daemon: the same sensors and assets, driven here.

`gs-dagster ui` runs the daemon (sensors on) and is the normal way. This driver serves the demo,
`gs-dagster process` (headless one-shot or watch) and the tests: one intake tick evaluates the
`job_intake` sensor with its cursor, applies its dynamic-partition requests, skips run keys that
already ran (as the daemon does), executes each requested run in process against the instance, and
then evaluates the run-status sensors on the finished run. Runs and materializations land in the
instance (a persistent DAGSTER_HOME), so the UI shows them afterwards.
"""

import time
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus

# Private: the tag names Dagster itself sets on sensor runs (no public constant); matching them lets an in-process
# run be found by the same run key as a daemon-launched one.
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from gs_dagster.definitions import RECONSTRUCT_JOB
from gs_dagster.partitions import DELIVERY
from gs_dagster.sensors.intake import IntakeCursor
from gs_dagster.sensors.run_status import STATUS_OF

#: How often one-shot processing looks again at a local file still being written (intake_rules.QUIET_S).
SETTLE_POLL_S = 1.0

INTAKE_SENSOR = "job_intake"
_STATUS_SENSORS = {
    DagsterRunStatus.STARTED: ("job_started", DagsterEventType.RUN_START),
    DagsterRunStatus.SUCCESS: ("job_succeeded", DagsterEventType.RUN_SUCCESS),
    DagsterRunStatus.FAILURE: ("job_failed", DagsterEventType.RUN_FAILURE),
    DagsterRunStatus.CANCELED: ("job_canceled", DagsterEventType.RUN_CANCELED),
}


@dataclass
class TickOutcome:
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    skipped_run_keys: list[str] = field(default_factory=list)
    added_partitions: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    cursor: str | None = None


class EmbeddedRunner:
    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None = None):
        self.defs = defs
        self.instance = instance
        self.cursor = cursor
        self.resources = dict(defs.resources or {})
        self.requested: set[str] = set()  # run keys handed out and not yet run (the daemon creates runs at once)

    # -- intake ------------------------------------------------------------------------------------------
    def intake_tick(self) -> TickOutcome:
        sensor = self.defs.resolve_sensor_def(INTAKE_SENSOR)
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=self.defs,
            sensor_name=INTAKE_SENSOR,
            resources=self.resources,
        )
        result = sensor(context)
        assert isinstance(result, dg.SensorResult), result
        outcome = TickOutcome(cursor=result.cursor)
        self.cursor = result.cursor or self.cursor
        for request in result.dynamic_partitions_requests or ():
            name = request.partitions_def_name
            new = [k for k in request.partition_keys if not self.instance.has_dynamic_partition(name, k)]
            if new:
                self.instance.add_dynamic_partitions(name, new)
                outcome.added_partitions.extend(new)
        for request in result.run_requests or ():
            if request.run_key and (
                request.run_key in self.requested
                or self.instance.get_run_records(
                    dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: INTAKE_SENSOR}), limit=1
                )
            ):
                outcome.skipped_run_keys.append(request.run_key)
                continue
            if request.run_key:
                self.requested.add(request.run_key)
            outcome.run_requests.append(request)
        skip = result.skip_reason
        outcome.skip_reason = skip.skip_message if isinstance(skip, dg.SkipReason) else skip
        return outcome

    # -- runs --------------------------------------------------------------------------------------------
    def execute(self, request: dg.RunRequest, *, run_config: dict[str, Any] | None = None) -> dg.ExecuteInProcessResult:
        tags = {**request.tags, SENSOR_NAME_TAG: INTAKE_SENSOR}
        if request.run_key:
            tags[RUN_KEY_TAG] = request.run_key
        return self.run_job(request.partition_key, tags=tags, run_config=run_config)

    def run_job(
        self,
        partition_key: str,
        *,
        selection: list[str] | None = None,
        run_config: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materialize stages (default: all) of one job in process, then run the run-status sensors. A new
        spz is delivered in the same run (the reconstruct job's order); `["delivery"]` alone delivers again."""
        job = self.defs.resolve_job_def(RECONSTRUCT_JOB)
        if selection and "spz" in selection and DELIVERY not in selection:
            selection = [*selection, DELIVERY]
        result = job.execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            run_config=run_config,
            tags=tags,
            asset_selection=[dg.AssetKey(s) for s in selection] if selection else None,
            raise_on_error=False,
        )
        self.report_run(result.run_id)
        return result

    def report_run(self, run_id: str) -> list[str]:
        """Evaluate the run-status sensors for a finished run, in the order the daemon would."""
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        done = []
        for status in (DagsterRunStatus.STARTED, run.status):
            if status not in _STATUS_SENSORS:
                continue
            sensor_name, event_type = _STATUS_SENSORS[status]
            records = self.instance.get_records_for_run(run_id, of_type=event_type).records
            if not records or records[-1].event_log_entry.dagster_event is None:
                continue
            sensor = self.defs.resolve_sensor_def(sensor_name)
            context = dg.build_run_status_sensor_context(
                sensor_name=sensor_name,
                dagster_event=records[-1].event_log_entry.dagster_event,
                dagster_instance=self.instance,
                dagster_run=run,
                resources=self.resources,
            )
            sensor(context)
            done.append(STATUS_OF[status])
        return done

    def process(self, max_ticks: int = 100) -> list[dg.ExecuteInProcessResult]:
        """Tick until a full sweep requests nothing more; run whatever was requested."""
        results = []
        for _ in range(max_ticks):
            tick = self.intake_tick()
            for request in tick.run_requests:
                results.append(self.execute(request))
            cursor = IntakeCursor.parse(self.cursor)
            if cursor.settling:  # a local file written a moment ago is judged once left alone: its outcome is
                time.sleep(SETTLE_POLL_S)  # this command's to give, so tick again (bounded by max_ticks)
                continue
            if not tick.run_requests and cursor.after == "":
                break
        return results
