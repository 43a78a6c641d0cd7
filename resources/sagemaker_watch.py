"""Watching a SageMaker training job from Dagster: describe it until it ends, or stop it.

Why its own module: how often DescribeTrainingJob is called (exponential backoff, no overall cap,
throttling answered by waiting) is a contract with the account's API limits, kept apart from the Pipes
session and the promotion of outputs that `sagemaker_client.py` handles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from gs_dagster.resources.sagemaker_request import TERMINAL_STATUSES


def poll_training_job(
    sagemaker: Any,
    job_name: str,
    log: Any,
    *,
    initial: float,
    maximum: float,
    factor: float,
    sleep: Callable[[float], None],
    tick: float | None = None,
) -> Iterator[dict[str, Any] | None]:
    """Each description until the job ends: exponential backoff from `initial` up to `maximum`, no overall cap.
    With `tick`, waits are cut into slices of `tick` seconds with a None between them, so the caller
    can pass on the messages that arrived (progress) without describing the job more often."""
    delay = initial
    seen: tuple[str, str | None] | None = None
    while True:
        try:
            description = sagemaker.describe_training_job(TrainingJobName=job_name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ThrottlingException", "Throttling"):
                raise
            description = None
        if description is not None:
            state = (description["TrainingJobStatus"], description.get("SecondaryStatus"))
            if state != seen:
                log.info(f"SageMaker training job {job_name}: {state[0]} / {state[1]}")
                seen = state
            yield description
            if state[0] in TERMINAL_STATUSES:
                return
        waited = 0.0
        while tick and delay - waited > tick:
            sleep(tick)
            waited += tick
            yield None
        sleep(delay - waited)
        delay = min(delay * factor, maximum)


def stop_training_job(sagemaker: Any, job_name: str, log: Any) -> None:
    """Stop the job (the Dagster step was interrupted); one that already ended is only logged."""
    log.warning(f"[pipes] execution interrupted: stopping SageMaker training job {job_name}")
    try:
        sagemaker.stop_training_job(TrainingJobName=job_name)
    except ClientError as exc:  # it already ended
        log.warning(f"could not stop SageMaker training job {job_name}: {exc}")
