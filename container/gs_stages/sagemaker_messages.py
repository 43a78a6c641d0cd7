"""Pipes messages from the training container that survive a container restart (chunks keep numbering)."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from dagster_pipes import PipesBlobStoreMessageWriter, PipesBlobStoreMessageWriterChannel

log = logging.getLogger("gs_stages.sagemaker")

_CHUNK = re.compile(r"/(\d+)\.json$")


class _ResumableS3Channel(PipesBlobStoreMessageWriterChannel):
    """Uploads buffered messages as `<prefix>/<n>.json`, n continuing after the chunks already there.

    The Dagster-side reader reads chunk 1, 2, 3... in order; a restarted container that started again
    at 1 would overwrite chunks the reader has consumed and lose its own messages. `flush()` uploads
    right away (after a stage report, on SIGTERM) without closing the Pipes session.
    """

    def __init__(self, client: Any, bucket: str, prefix: str, *, interval: float, first_index: int):
        super().__init__(interval=interval)
        self._client, self._bucket, self._prefix = client, bucket, prefix
        self._next = first_index
        self._lock = threading.Lock()

    def upload_messages_chunk(self, payload: Any, index: int) -> None:
        # The base class numbers from 1; this channel numbers itself (see flush).
        with self._lock:
            self._put(payload.read())

    def _put(self, body: str) -> None:
        key = f"{self._prefix}/{self._next}.json"
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body.encode("utf-8"))
        self._next += 1

    def flush(self) -> None:
        with self._lock:
            messages = self.flush_messages()
            if messages:
                self._put("\n".join(json.dumps(m) for m in messages))

    @contextmanager
    def buffered_upload_loop(self) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self._interval):
                try:
                    self.flush()
                except Exception as exc:  # keep the loop alive through a transient S3 error
                    print(f"pipes: message upload failed, will retry: {exc}", file=sys.__stderr__)

        thread = threading.Thread(target=loop, name="pipes-s3-upload", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=60)
            self.flush()


class ResumableS3MessageWriter(PipesBlobStoreMessageWriter):
    """PipesS3MessageWriter's protocol, resumable: reads what earlier containers of this job wrote."""

    def __init__(self, client: Any, *, interval: float = 5.0):
        super().__init__(interval=interval)
        self._client = client
        self.channel: _ResumableS3Channel | None = None
        self.history: list[dict[str, Any]] = []  # messages already in S3 for this job, in order

    def make_channel(self, params: dict[str, Any]) -> _ResumableS3Channel:
        bucket, prefix = params["bucket"], params["key_prefix"].rstrip("/")
        indices = self._existing_chunks(bucket, prefix)
        self.history = self._read_chunks(bucket, prefix, indices)
        if indices:
            log.info(
                "pipes: %d message chunk(s) from an earlier container; continuing at %d", len(indices), max(indices) + 1
            )
        self.channel = _ResumableS3Channel(
            self._client, bucket, prefix, interval=self.interval, first_index=max(indices, default=0) + 1
        )
        return self.channel

    def _existing_chunks(self, bucket: str, prefix: str) -> list[int]:
        indices: list[int] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            for obj in page.get("Contents", []):
                match = _CHUNK.search(obj["Key"])
                if match and obj["Key"] == f"{prefix}/{match.group(1)}.json":
                    indices.append(int(match.group(1)))
        return sorted(indices)

    def _read_chunks(self, bucket: str, prefix: str, indices: list[int]) -> list[dict[str, Any]]:
        def read(index: int) -> str:
            return self._client.get_object(Bucket=bucket, Key=f"{prefix}/{index}.json")["Body"].read().decode()

        messages: list[dict[str, Any]] = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            for chunk in pool.map(read, indices):
                for line in chunk.splitlines():
                    try:
                        messages.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        return messages

    def flush(self) -> None:
        if self.channel is not None:
            self.channel.flush()
