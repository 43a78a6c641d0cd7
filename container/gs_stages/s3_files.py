"""Files the stages read from S3 by URI: model weights and vocabulary trees (never fetched from a hub).

One place for the boto3 calls, so every caller reports a missing object the same way; each caller
words its own message (what needed the file, how to provide it).
"""

from __future__ import annotations

from pathlib import Path


class S3FileError(Exception):
    """A download failed; `missing` when the bucket or key does not exist (rather than access, network)."""

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.missing = missing


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key); the key may be empty or a prefix."""
    bucket, _, key = uri[len("s3://") :].partition("/") if uri.startswith("s3://") else ("", "", "")
    return bucket, key


def download(uri: str, target: Path) -> Path:
    """The object at `uri`, written to `target`."""
    bucket, key = split_uri(uri)
    _call(lambda s3: s3.download_file(bucket, key, str(target)))
    return target


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


def _call(action) -> None:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        action(boto3.client("s3"))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise S3FileError(str(exc), missing=code in ("404", "NoSuchKey", "NoSuchBucket")) from exc
    except BotoCoreError as exc:
        raise S3FileError(str(exc)) from exc
