"""What to do after a failed run, following the stage that failed: the stages before it are kept, so the
advice is to re-materialize that stage and the ones after it, not the whole job; a splat that fails its
held-out PSNR check is retrained with more steps. The advice always names `delivery` too: the UI runs only
the assets selected, and without it the new result never reaches the bucket; a failed delivery alone is
delivered again from the stored spz, without training again."""

from __future__ import annotations

from collections.abc import Sequence

from gs_dagster.partitions import DELIVERY
from gs_stages.stage import STAGE_ORDER

#: A uuid runs once: a failed job is run again by re-materializing it or under a new uuid, never by uploading
#: the same job file again (that is reported as a resubmission and not run).
RETRY_AFTER_FAILURE = (
    "To try again once that is fixed: re-materialize the job in the Dagster UI (it reads the media again, so a "
    "corrected file uploaded under the same name is used), or submit it under a new uuid. Uploading the same "
    "job file again does not run it: a uuid runs only once."
)
_RUN_CONFIG = "ops: {reconstruction: {config: {overrides: {%s}}}}"


def _rest(stage: str) -> str:
    return ", ".join((*STAGE_ORDER[STAGE_ORDER.index(stage) :], DELIVERY))


def retry_hint(uuid: str, stage: str, failed_checks: Sequence[str] = (), max_steps: int | None = None) -> str:
    """The advice after a run that failed in `stage` ("" or unknown: the whole job)."""
    if "splat:heldout_psnr" in failed_checks:
        steps = f"{max_steps * 2:,}" if max_steps else "twice this run's"
        example = _RUN_CONFIG % f"training.maxSteps: {max_steps * 2 if max_steps else 30000}"
        return (
            f"To retrain with more steps: in the Dagster UI select the assets splat, spz and {DELIVERY}, partition "
            f"{uuid}, and materialize them with a run config that trains longer (e.g. {steps} steps: "
            f"{example}). frames and sparse_model are kept and not run again."
        )
    if stage == DELIVERY:
        return (
            f"To try again once that is fixed: in the Dagster UI select {DELIVERY} of partition {uuid} and "
            "materialize it: the stored spz is delivered again, nothing is trained again."
        )
    if stage not in STAGE_ORDER or stage == "frames":
        return RETRY_AFTER_FAILURE
    before = STAGE_ORDER[: STAGE_ORDER.index(stage)]
    kept = f"{', '.join(before)} {'is' if len(before) == 1 else 'are'} kept and not run again"
    return (
        f"To try again once that is fixed: in the Dagster UI select {_rest(stage)} of partition {uuid} and "
        f"materialize them (changed options go in the run config: {_RUN_CONFIG % '...'}); {kept}. "
        "Uploading the same job file again does not run it: a uuid runs only once."
    )
