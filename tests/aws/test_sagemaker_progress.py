"""The SageMaker client passes progress on between its DescribeTrainingJob polls: waits are cut into
slices of the message interval, with no more describes than before (resources/sagemaker_client.py `_poll`)."""

from typing import Any

from gs_dagster.resources.sagemaker_client import PipesSageMakerClient
from gs_dagster.resources.sagemaker_request import SageMakerSettings

from .conftest import BUCKET, IMAGE, ROLE, ROOT_PREFIX


class Describing:
    """Answers InProgress `busy` times, then Completed."""

    def __init__(self, busy: int):
        self.busy, self.describes = busy, 0

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.describes += 1
        status = "InProgress" if self.describes <= self.busy else "Completed"
        return {"TrainingJobName": TrainingJobName, "TrainingJobStatus": status, "SecondaryStatus": "Training"}


class Log:
    def info(self, text: str) -> None:
        pass


def _client(sagemaker: Describing, slept: list[float]) -> PipesSageMakerClient:
    settings = SageMakerSettings(image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}")
    return PipesSageMakerClient(
        settings, sagemaker_client=sagemaker, s3_client=object(), poll_initial=30, poll_max=60, sleep=slept.append
    )


def test_waits_between_describes_are_cut_into_message_interval_slices() -> None:
    sagemaker, slept = Describing(busy=2), []
    polled = list(_client(sagemaker, slept)._poll("gs-job", Log(), tick=10))
    described = [p["TrainingJobStatus"] for p in polled if p is not None]
    assert described == ["InProgress", "InProgress", "Completed"] and sagemaker.describes == 3
    assert polled.count(None) == 2 + 4  # 30 s, then 45 s, in 10 s slices (the last slice is slept, not yielded)
    assert sum(slept) == 30 + 45 and max(slept) <= 10


def test_without_a_tick_the_waits_are_whole() -> None:
    sagemaker, slept = Describing(busy=2), []
    polled = list(_client(sagemaker, slept)._poll("gs-job", Log()))
    assert None not in polled and slept == [30, 45]
