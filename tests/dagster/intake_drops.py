"""A bucket to drop job files into and read the outcome back from, the same way for the local folder and for
S3 on the moto server: the records in the job table and the notices sent (outbox or SNS -> SQS)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from gs_testkit import AwsSandbox, local_config, runner_for

from gs_dagster.config import GsConfig
from gs_dagster.embedded import EmbeddedRunner, TickOutcome
from gs_dagster.partitions import JOBS_PARTITION
from gs_dagster.resources.job_table import JobRecord, open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.sensors.intake import Intake, IntakeCursor


def cli_reads(data_dir: Path, instance: dg.DagsterInstance, monkeypatch: Any) -> None:
    """`gs-dagster` commands run in the test read the embedded default under `data_dir` (no GS_* setting
    from the environment) and `instance`'s Dagster home."""
    for name in ("GS_BUCKET", "GS_STORAGE_ROOT", "GS_JOB_TABLE", "GS_NOTIFIER", "GS_OUTBOX", "GS_MEDIA_WAIT_S"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)


@dataclass
class Drops:
    config: GsConfig
    runner: EmbeddedRunner
    aws: AwsSandbox | None = None
    seen_notices: int = 0
    notices: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def local(cls, root: Path, instance: dg.DagsterInstance, **changes: Any) -> Drops:
        config = local_config(root, **changes)
        return cls(config, runner_for(config, instance))

    @classmethod
    def moto(cls, aws: AwsSandbox, instance: dg.DagsterInstance, **changes: Any) -> Drops:
        config = aws.config(**changes)
        return cls(config, runner_for(config, instance), aws)

    @property
    def bucket_name(self) -> str:
        return self.aws.bucket if self.aws else self.config.bucket_name

    def put(self, key: str | bytes, body: bytes | str) -> None:
        """`key` as bytes: a local file name that is not UTF-8 (S3 keys always are)."""
        data = body.encode() if isinstance(body, str) else body
        if self.aws:
            self.aws.put(key if isinstance(key, str) else key.decode("utf-8", "replace"), data)
            return
        path = os.path.join(os.fsencode(self.config.bucket), key if isinstance(key, bytes) else os.fsencode(key))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)

    def delete(self, key: str) -> None:
        if self.aws:
            self.aws.s3.delete_object(Bucket=self.aws.bucket, Key=key)
        else:
            (Path(self.config.bucket) / key).unlink()

    def tick(self) -> TickOutcome:
        return self.runner.intake_tick()

    def tick_at(self, now: datetime) -> list[str]:
        """One intake tick as the sensor's, with the clock at `now` (the intake's own clock injection): the uuids
        whose runs it requests, their partitions added and run keys remembered as the runner does."""
        resources = self.runner.resources
        tick = Intake(
            bucket=resources["bucket"],
            job_table=resources["job_table"].table(),
            notifier=resources["notifier"],
            settings=resources["intake"],
            instance=self.runner.instance,
        ).tick(IntakeCursor.parse(self.runner.cursor), now=now)
        self.runner.cursor = tick.cursor.dump()
        new = [k for k in tick.new_partitions if not self.runner.instance.has_dynamic_partition(JOBS_PARTITION, k)]
        self.runner.instance.add_dynamic_partitions(JOBS_PARTITION, new)
        requested = [r.run_key for r in tick.run_requests if r.run_key not in self.runner.requested]
        self.runner.requested.update(requested)
        return requested

    def retried(self) -> dict[str, list[Any]]:
        """Job files the intake failed to handle and will try again (none, when every file got an outcome)."""
        return IntakeCursor.parse(self.runner.cursor).failing

    def records(self) -> dict[str, JobRecord]:
        table = open_job_table(self.config.job_table, endpoint_url=self.config.endpoint_url, region=self.config.region)
        return {r.uuid: r for r in table.list(limit=10_000)}

    def new_notices(self) -> list[dict[str, Any]]:
        """Notices sent since the last call: {"uuid", "event", "text"}."""
        if self.aws:
            new = [
                {"uuid": n["attributes"]["uuid"], "event": n["attributes"]["event"], "text": n["text"]}
                for n in self.aws.notices()
            ]
        else:
            outbox = NotifierResource(outbox_dir=self.config.outbox_dir).outbox()
            new = [{"uuid": n["uuid"], "event": n["event"], "text": n["text"]} for n in outbox[self.seen_notices :]]
            self.seen_notices = len(outbox)
        self.notices += new
        return new

    def refused_once(self, uuid: str, words: list[str]) -> JobRecord:
        """Tick: the job file `uuid` is refused at intake (no run) with `words` in its error, in one notice
        saying it may be uploaded again, and the next tick says nothing more."""
        assert self.tick().run_requests == []
        record = self.records()[uuid]
        assert record.status == "FAILED" and record.failed_at == "intake" and not record.run_id, record
        for word in words:
            assert word in record.error, (word, record.error)
        (notice,) = self.new_notices()
        assert notice["uuid"] == uuid and notice["event"] == "FAILED" and words[0] in notice["text"]
        assert "upload the job file again under the same name" in notice["text"]
        assert self.tick().run_requests == [] and self.new_notices() == []  # said once
        return record
