"""The SageMaker container's stage outputs in S3 and the reporter that publishes them.

`Publisher` copies a stage directory between the container's local work layout and
`<output root>/<stage>/<uuid>/` (metrics.json last, then a completion marker naming the training job), so a
restarted container knows what is complete. `PublishingReporter` stands in for gs_stages' reporter in the
container (gs_stages/sagemaker_entry.py installs it): it has each finished stage judged and reported to
Dagster once, then publishes it, so an output that failed a blocking check never reaches S3.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gs_stages.layout import write_complete_marker
from gs_stages.sagemaker_contract import MARKER, split_s3_uri

log = logging.getLogger("gs_stages.sagemaker")


# -- stage outputs in S3 ------------------------------------------------------------------------------
class Publisher:
    """Copies stage directories between the local work layout and `<output root>/<stage>/<uuid>/`."""

    def __init__(self, client: Any, output_root: str, uuid: str, job_name: str):
        self.client = client
        self.bucket, self.root = split_s3_uri(output_root)
        self.uuid, self.job_name = uuid, job_name

    def prefix(self, stage: str) -> str:
        return "/".join(p for p in (self.root, stage, self.uuid) if p)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix + "/"):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def completed_metrics(self, stage: str) -> dict[str, Any] | None:
        """The stage's metrics when this training job already published it completely, else None."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix(stage)}/{MARKER}")["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        marker = json.loads(body)
        return marker["metrics"] if marker.get("training_job") == self.job_name else None

    def publish(self, stage: str, directory: Path, metrics: dict[str, Any]) -> int:
        """Upload a finished stage dir (following links: checkpoints), metrics.json last, then the marker."""
        prefix = self.prefix(stage)
        files = sorted(
            (Path(top) / name for top, _dirs, names in os.walk(directory, followlinks=True) for name in names),
            key=lambda p: (p.name == "metrics.json", p.as_posix()),
        )
        uploaded = set()
        for path in files:
            key = f"{prefix}/{path.relative_to(directory).as_posix()}"
            self.client.upload_file(str(path), self.bucket, key)
            uploaded.add(key)
        stale = [k for k in self._keys(prefix) if k not in uploaded and not k.endswith("/" + MARKER)]
        for start in range(0, len(stale), 1000):
            batch = [{"Key": k} for k in stale[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        marker = {"training_job": self.job_name, "files": len(uploaded), "metrics": metrics}
        self.client.put_object(
            Bucket=self.bucket, Key=f"{prefix}/{MARKER}", Body=json.dumps(marker, default=str).encode()
        )
        log.info("stage %s: %d file(s) published to s3://%s/%s/", stage, len(uploaded), self.bucket, prefix)
        return len(uploaded)

    def download(self, stage: str, directory: Path) -> int:
        prefix = self.prefix(stage)
        count = 0
        for key in self._keys(prefix):
            if key.endswith("/" + MARKER):
                continue
            target = directory / key[len(prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, key, str(target))
            count += 1
        return count


# -- reporting: publish, then tell Dagster once -----------------------------------------------------
class PublishingReporter:
    """A gs_stages reporter that publishes each finished stage to S3 before reporting it, once.

    `inner` is gs_stages.reporter's Reporter (no Pipes) or PipesReporter; `history` the Pipes messages
    that earlier containers of this job already delivered to S3. A stage whose materialization is in
    the history is not reported again (its checks were reported with it).
    """

    def __init__(
        self,
        inner: Any,
        publisher: Publisher,
        history: list[dict[str, Any]],
        flush: Callable[[], None] = lambda: None,
    ):
        self.inner, self.publisher, self.flush = inner, publisher, flush
        self.delivered = {
            (m.get("params") or {}).get("asset_key")
            for m in history
            if m.get("method") == "report_asset_materialization"
        }

    def already_delivered(self, stage: str) -> bool:
        # PipesReporter reports a stage under its own name when the step selects assets (always, for
        # the reconstruction multi-asset); without asset keys there is nothing to match on.
        selected = getattr(self.inner, "selected", None)
        return bool(selected) and stage in self.delivered

    def stage_done(self, stage: str, output: Path, metrics: dict[str, Any]) -> None:
        # Judged first (a failed blocking check raises here), published only when accepted: an output
        # that failed its check never reaches S3, and the launcher keeps the last good one.
        self.report(stage, output, metrics)
        write_complete_marker(output, stage, self.publisher.uuid)
        self.publisher.publish(stage, output, metrics)

    def report(self, stage: str, output: Path, metrics: dict[str, Any]) -> None:
        if self.already_delivered(stage):
            log.info("stage %s: already reported to Dagster by an earlier container", stage)
            return
        self.inner.stage_done(stage, output, metrics)
        self.flush()

    def stage_failed(self, stage: str, message: str) -> None:
        self.inner.stage_failed(stage, message)
        self.flush()

    def requested_checks(self, stage: str) -> list[str]:
        return self.inner.requested_checks(stage)

    @property
    def progress_interval_s(self) -> float:
        return self.inner.progress_interval_s

    def progress(self, update: Any) -> None:
        """Progress goes out with the writer's next chunk (no flush: a few a minute are plenty)."""
        self.inner.progress(update)

    def close(self) -> None:
        self.inner.close()
