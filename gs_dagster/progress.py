"""Where a running job is, read back from the Dagster event log for `gs-dagster status`: the stage that
runs now, its step and ETA.

The launchers record each stage's progress as asset observations of its run (resources/progress_relay.py)
and each finished stage as a materialization. The newest of the two says where the run is: inside the
observed stage's phase, or, when a stage materialized after the last progress update, at the next stage
the run launched (which has not reported progress yet).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus

from gs_dagster.config import default_dagster_home
from gs_dagster.partitions import PARTITION_TAG, UUID_TAG
from gs_dagster.resources.progress_relay import update_of
from gs_stages.progress import ProgressUpdate, short_duration
from gs_stages.stage import STAGE_ORDER

#: How many recent observations of a run to look through for the newest progress one.
RECENT_OBSERVATIONS = 20


@dataclass(frozen=True)
class RunPosition:
    """The `stage`, `step` and `eta` columns of one running job (empty strings when unknown)."""

    stage: str
    step: str = ""
    eta: str = ""
    update: ProgressUpdate | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"stage": self.stage, "step": self.step, "eta": self.eta}
        if self.update is not None:
            data["update"] = asdict(self.update)
        return data

    def line(self) -> str:
        """`splat training: step 1,200/7,000 (17%), ... ETA 4m 10s`, or `stage spz (started)`."""
        return self.update.text() if self.update is not None else f"stage {self.stage} (started, no progress yet)"


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance | None]:
    """The Dagster instance of DAGSTER_HOME (or the project's .dagster_home), or None when there is none
    or it cannot be opened: status then shows the job table alone."""
    home = default_dagster_home()
    if not (home / "dagster.yaml").is_file() and not (home / "storage").is_dir():
        yield None
        return
    try:
        instance = dg.DagsterInstance.from_config(str(home))
    except Exception:  # a broken or foreign instance config: status must still answer
        yield None
        return
    try:
        yield instance
    finally:
        instance.dispose()


def _newest(instance: dg.DagsterInstance, run_id: str, kind: DagsterEventType, limit: int = 1) -> list[Any]:
    return list(instance.get_records_for_run(run_id, of_type=kind, ascending=False, limit=limit).records)


def _launched(run: dg.DagsterRun) -> list[str]:
    selected = {key.to_user_string() for key in (run.asset_selection or ())}
    return [s for s in STAGE_ORDER if s in selected] if selected else list(STAGE_ORDER)


def run_position(instance: dg.DagsterInstance, run_id: str) -> RunPosition | None:
    """Where the run is, while it runs; None for a run that is not running (or not in this instance)."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.status != DagsterRunStatus.STARTED:
        return None
    latest: tuple[int, ProgressUpdate] | None = None
    for record in _newest(instance, run_id, DagsterEventType.ASSET_OBSERVATION, RECENT_OBSERVATIONS):
        observation = record.event_log_entry.asset_observation
        metadata = {k: getattr(v, "value", v) for k, v in (observation.metadata if observation else {}).items()}
        update = update_of(metadata)
        if update is not None:
            latest = (record.storage_id, update)
            break
    launched = _launched(run)
    materialized = _newest(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION)
    if materialized and (latest is None or materialized[0].storage_id > latest[0]):
        event = materialized[0].event_log_entry.dagster_event
        done = event.asset_key.to_user_string() if event and event.asset_key else ""
        later = launched[launched.index(done) + 1 :] if done in launched else []
        return RunPosition(stage=later[0] if later else done)
    if latest is None:
        return RunPosition(stage=launched[0] if launched else "")
    update = latest[1]
    step = f"{update.step:,}/{update.total:,}" if update.total else f"{update.step:,}"
    eta = short_duration(update.eta_s) if update.eta_s is not None else ""
    return RunPosition(stage=update.where, step=step, eta=eta, update=update)


def latest_run_id(instance: dg.DagsterInstance, uuid: str) -> str | None:
    """The job's newest run: by its partition tag, else by the intake's uuid tag."""
    for tags in ({PARTITION_TAG: uuid}, {UUID_TAG: uuid}):
        runs = instance.get_runs(filters=dg.RunsFilter(tags=tags), limit=1)
        if runs:
            return runs[0].run_id
    return None


def positions(uuids: Sequence[str]) -> dict[str, RunPosition]:
    """uuid -> position, for the jobs among `uuids` whose newest run is running (one instance opened for all).

    The newest run is looked up in the instance rather than taken from the job record, whose run id the
    run-started sensor writes only on its next tick."""
    found: dict[str, RunPosition] = {}
    with open_instance() as instance:
        if instance is None:
            return found
        for uuid in dict.fromkeys(u for u in uuids if u):
            try:
                run_id = latest_run_id(instance, uuid)
                position = run_position(instance, run_id) if run_id else None
            except Exception:  # the event log cannot be read: the columns stay empty, status still answers
                continue
            if position is not None:
                found[uuid] = position
    return found
