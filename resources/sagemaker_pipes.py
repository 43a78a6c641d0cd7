"""Dagster Pipes over S3 for a SageMaker training job: the context object and the message chunks (with the
container's stdout/stderr) under one fixed prefix per job, `<root>/<pipes_prefix>/<job name>/`, which a
least-privilege execution role may write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster_aws.pipes import PipesS3ContextInjector, PipesS3MessageReader
from dagster_pipes import PipesBlobStoreMessageWriter, PipesParams

from gs_dagster.resources.sagemaker_request import SageMakerSettings


class _PrefixedS3MessageReader(PipesS3MessageReader):
    """PipesS3MessageReader whose chunks go under a fixed key prefix (the stock one picks a random
    top-level prefix, which a least-privilege execution role could not write)."""

    def __init__(self, *, key_prefix: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.key_prefix = key_prefix

    @contextmanager
    def get_params(self) -> Iterator[PipesParams]:
        yield {
            "bucket": self.bucket,
            "key_prefix": self.key_prefix,
            PipesBlobStoreMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: self.include_stdio_in_messages,
        }


def pipes_io(
    settings: SageMakerSettings, job_name: str, s3_client: Any, message_interval: float = 10
) -> tuple[PipesS3ContextInjector, _PrefixedS3MessageReader]:
    """The Pipes context injector and message reader of one training job, both under
    `<root>/<pipes_prefix>/<job name>/` (the context object, then the message chunks in `m/`)."""
    pipes_key = settings.key(settings.pipes_prefix, job_name)
    injector = PipesS3ContextInjector(bucket=settings.bucket, client=s3_client, key_prefix=pipes_key + "/")
    reader = _PrefixedS3MessageReader(
        key_prefix=f"{pipes_key}/m",
        bucket=settings.bucket,
        client=s3_client,
        interval=message_interval,
        include_stdio_in_messages=True,
    )
    return injector, reader
