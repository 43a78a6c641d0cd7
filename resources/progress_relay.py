"""Progress from a stage process into the run's event log, whichever launcher ran it.

The stage side sends throttled `ProgressUpdate`s as Pipes custom messages (gs_stages/progress.py). A
launcher's streaming loop hands each new one to `ProgressRelay.fresh`, which logs its text (the run's log
in the UI) and returns an `AssetObservation` of the stage's asset and the job's partition for the asset
function to yield: observations logged with `context.log_event` would only reach the event log at the next
yield, which for a training run is its end. `gs-dagster status` reads the newest one back
(gs_dagster/progress.py).
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from gs_stages.progress import ProgressUpdate

#: Metadata keys of a progress observation ("progress/" keeps them apart from the materialization's
#: figures, which the UI would otherwise shadow with the observation's rows of the same name).
PREFIX = "progress/"
STAGE_KEY, PHASE_KEY, STEP_KEY, TOTAL_KEY = (f"{PREFIX}{n}" for n in ("stage", "phase", "step", "total"))
ETA_KEY, ELAPSED_KEY, TEXT_KEY = f"{PREFIX}eta_s", f"{PREFIX}elapsed_s", f"{PREFIX}text"


def observation(update: ProgressUpdate, partition: str | None) -> dg.AssetObservation:
    """The update as an observation of its stage's asset: text first, then the numbers."""
    metadata: dict[str, Any] = {
        TEXT_KEY: update.text(),
        STAGE_KEY: update.stage,
        PHASE_KEY: update.phase,
        STEP_KEY: update.step,
        ELAPSED_KEY: round(update.elapsed_s, 1),
    }
    if update.total is not None:
        metadata[TOTAL_KEY] = update.total
    if update.eta_s is not None:
        metadata[ETA_KEY] = round(update.eta_s, 1)
    metadata.update({f"{PREFIX}{name.replace(' ', '_')}": value for name, value in update.figures.items()})
    return dg.AssetObservation(asset_key=update.stage, partition=partition, metadata=metadata)


def update_of(metadata: dict[str, Any]) -> ProgressUpdate | None:
    """The update an observation's metadata (plain values) holds, or None when it is not a progress one."""
    if STAGE_KEY not in metadata or STEP_KEY not in metadata:
        return None
    figures = {
        key[len(PREFIX) :].replace("_", " "): value
        for key, value in metadata.items()
        if key.startswith(PREFIX)
        and key not in (STAGE_KEY, PHASE_KEY, STEP_KEY, TOTAL_KEY, ETA_KEY, ELAPSED_KEY, TEXT_KEY)
    }
    return ProgressUpdate.from_message(
        {
            "event": "progress",
            "stage": metadata[STAGE_KEY],
            "phase": metadata.get(PHASE_KEY),
            "step": metadata[STEP_KEY],
            "total": metadata.get(TOTAL_KEY),
            "elapsed_s": metadata.get(ELAPSED_KEY),
            "eta_s": metadata.get(ETA_KEY),
            "figures": figures,
        }
    )


class ProgressRelay:
    """Turns the progress messages a Pipes session received since the last call into log lines and
    observations (other custom messages, e.g. a stage's failure, are left to the launcher)."""

    def __init__(self, context: Any):
        self.context = context
        self.seen = 0
        self.relayed = 0

    def fresh(self, session: Any) -> list[dg.AssetObservation]:
        messages = list(session.get_custom_messages())
        new, self.seen = messages[self.seen :], len(messages)
        partition = self.context.partition_key if self.context.has_partition_key else None
        observations = []
        for message in new:
            update = ProgressUpdate.from_message(message)
            if update is None:
                continue
            self.context.log.info(update.text())
            observations.append(observation(update, partition))
        self.relayed += len(observations)
        return observations
