"""Files the stages read from S3 by URI: model weights and vocabulary trees (never fetched from a hub).

One place for the boto3 calls, so every caller reports a missing object the same way; each caller
words its own message (what needed the file, how to provide it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Where S3 is when the deployment names no endpoint: the project's own variable first (gs_dagster/config.py
#: reads the same names, and the local launcher passes its environment on), then boto3's.
ENDPOINT_ENV = ("GS_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
#: S3 error codes of a missing bucket or key, and of a refused request.
MISSING_CODES = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")
DENIED_CODES = ("403", "AccessDenied", "Forbidden")
#: boto3 reads only AWS_DEFAULT_REGION; SageMaker and the deployment set AWS_REGION.
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")


class S3FileError(Exception):
    """A download failed; `missing` when the bucket or key does not exist (rather than access, network);
    `code` is S3's error code, where S3 answered."""

    def __init__(self, message: str, missing: bool = False, code: str = ""):
        super().__init__(message)
        self.missing = missing
        self.code = code


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key); the key may be empty or a prefix."""
    bucket, _, key = uri[len("s3://") :].partition("/") if uri.startswith("s3://") else ("", "", "")
    return bucket, key


def download(uri: str, target: Path) -> Path:
    """The object at `uri`, written to `target`.

    A role granted s3:ListBucket only for some prefixes (the Terraform's) gets 403, not 404, for a key that does
    not exist: a 403 is settled by listing the key itself, which such a grant allows, so a missing file is
    reported as missing rather than as a permission problem."""
    bucket, key = split_uri(uri)
    try:
        _call(lambda s3: s3.download_file(bucket, key, str(target)))
    except S3FileError as exc:
        if exc.code in DENIED_CODES and _listed_absent(bucket, key):
            raise S3FileError(f"no object {uri} (S3 answered 403; a listing under the key is empty)", True) from None
        raise
    return target


def _listed_absent(bucket: str, key: str) -> bool:
    """True when a listing under `key` shows no such key; False when it is there or the listing is refused."""
    found: list[str] = []

    def listing(s3: Any) -> None:
        found.extend(i["Key"] for i in s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", []))

    try:
        _call(listing)
    except S3FileError:
        return False
    return key not in found


def download_prefix(uri: str, directory: Path) -> list[Path]:
    """Every object under the prefix `uri` (by file name) into `directory`; [] when there is none."""
    bucket, prefix = split_uri(uri)
    files: list[Path] = []

    def fetch(s3) -> None:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for key in (item["Key"] for page in pages for item in page.get("Contents", [])):
            if not key.endswith("/"):
                files.append(directory / Path(key).name)
                s3.download_file(bucket, key, str(files[-1]))

    _call(fetch)
    return files


def _first(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def client(endpoint_url: str | None = None, region: str | None = None, **config: Any) -> Any:
    """An S3 client for the configured endpoint and region (given, else from the environment); `config`
    adds botocore Config options to the standard retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or _first(ENDPOINT_ENV),
        region_name=region or _first(REGION_ENV) or "us-east-1",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, **config),
    )


def _call(action) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        action(client())
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise S3FileError(str(exc), missing=code in MISSING_CODES, code=code) from exc
    except BotoCoreError as exc:
        raise S3FileError(str(exc)) from exc
