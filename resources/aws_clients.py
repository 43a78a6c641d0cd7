"""boto3 clients and resources of this process, one per service, endpoint and region (boto3 clients are
thread-safe and slow to build). The endpoint is moto or LocalStack in tests; the region defaults to the
environment's, then us-east-1."""

from __future__ import annotations

import functools
import os
from typing import Any


def region_or_default(region: str | None) -> str:
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@functools.lru_cache(maxsize=16)
def aws_client(service: str, endpoint_url: str | None, region: str | None) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url or None, region_name=region_or_default(region))


@functools.lru_cache(maxsize=16)
def aws_resource(service: str, endpoint_url: str | None, region: str | None) -> Any:
    import boto3

    return boto3.resource(service, endpoint_url=endpoint_url or None, region_name=region_or_default(region))
