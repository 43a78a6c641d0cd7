"""The job table: one record per job uuid, the source of truth for what was submitted and how it ended.

One interface, two backends with the same schema:

- SQLite (embedded default): `sqlite:///path/to/jobs.sqlite3` (resources/job_table_sqlite.py)
- DynamoDB (AWS): `dynamodb://table-name`; partition key `uuid` (S), on-demand billing
  (resources/job_table_dynamo.py).

Every write that could race is conditional: a job is created only if its uuid is new, a re-submission
is reported once (conditioned on the object's previous ETag), a run's outcome never overwrites the
outcome of a newer run of the same job, a run's start never overwrites that run's end, and a run's end
notice is claimed once (`notified_runs`).

Every write is bounded (resources/text_bounds.py): the error text and every other string fit a
DynamoDB item (400 KB) whatever a job file holds, saying how much was left out. A backend that cannot
read or write (SQLite's disk full, DynamoDB throttling past its retries) raises JobTableError, whose
message names the table and what to do; callers log it and retry later instead of crashing.

Attributes (DynamoDB type in brackets; SQLite stores maps and lists as JSON text):
    uuid [S], status [S] (SUBMITTED, RUNNING, COMPLETE, FAILED, CANCELED),
    submitted_at, updated_at, started_at, ended_at [S, ISO-8601 UTC], elapsed_s [N],
    source_uri, source_etag, source_modified [S, when that upload arrived], media_uri [S],
    spec [S, the canonical job JSON],
    failed_at [S] ("intake" or "run"), error [S], run_id [S], stages [L of S],
    outputs [M of S], metrics [M of N], resubmissions [N], last_resubmitted_at [S],
    notified_runs [L of S, the runs whose end notice was sent, newest last],
    other_sources [L of S, "<uri> <etag> <arrival>" of the uuid's job files in other folders already reported].
"""

from __future__ import annotations

import functools
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
from pydantic import Field

from gs_dagster.resources.text_bounds import bound_text, cut_chars

TERMINAL = ("COMPLETE", "FAILED", "CANCELED")
#: Bounds of what a record holds, in UTF-8 bytes: together far below DynamoDB's 400 KB item.
MAX_ERROR_BYTES = 32_000
MAX_ERROR_LINES = 200
MAX_SPEC_BYTES = 200_000
MAX_STRING_BYTES = 4_000
#: A job re-run more often than this keeps only its newest runs' notice claims.
MAX_NOTIFIED_RUNS = 50


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobTableError(OSError):
    """The job table could not be read or written; the message says which table, why and what to do."""


@dataclass
class JobRecord:
    uuid: str
    status: str = "SUBMITTED"
    submitted_at: str = ""
    updated_at: str = ""
    source_uri: str = ""
    source_etag: str = ""
    source_modified: str = ""
    media_uri: str = ""
    spec: str = ""  # canonical job JSON (empty when the document was invalid)
    failed_at: str = ""  # "intake" (never ran) or "run"
    error: str = ""
    run_id: str = ""
    started_at: str = ""
    ended_at: str = ""
    elapsed_s: float | None = None
    stages: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    resubmissions: int = 0
    last_resubmitted_at: str = ""
    notified_runs: list[str] = field(default_factory=list)
    other_sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def name(self) -> str:
        """What people call the job: its media file name, else its job file name, else the uuid."""
        for uri in (self.media_uri, self.source_uri):
            tail = PurePosixPath(uri.split("://", 1)[-1]).name if uri else ""
            if tail:  # `gs-dagster submit` uploads media as <uuid>-<file name>
                return tail.removeprefix(f"{self.uuid}-") or tail
        return self.uuid


FIELD_NAMES = tuple(f.name for f in fields(JobRecord))
JSON_FIELDS = ("stages", "outputs", "metrics", "notified_runs", "other_sources")
#: Job files of one uuid in other folders remembered (reported once each); the oldest go first.
MAX_OTHER_SOURCES = 50


@dataclass(frozen=True)
class RunOutcome:
    """What a finished (or started) run says about its job."""

    run_id: str
    status: str
    started_at: str = ""
    ended_at: str = ""
    elapsed_s: float | None = None
    stages: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    failed_stage: str = ""  # the stage whose failure ended the run ("" when unknown or not failed)
    failed_checks: list[str] = field(default_factory=list)  # blocking checks that failed, "stage:check"
    #: Checks that found a weak result and let it through (WARN), in the checks' own words, for the notice.
    warnings: list[str] = field(default_factory=list)
    #: Job options (JSON paths) and engine settings (`setting <name>`) the run's config changed, for the notice.
    changes: dict[str, Any] = field(default_factory=dict)
    #: Figures of `metrics` an earlier run made (a stage this run did not materialize): the notice says so.
    earlier_figures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WriteCondition:
    """When a conditional write happens: every `expect` attribute equals its value (None or "" = absent or
    empty); with `newer_run`, the stored run started no later than it; with `unless_ended` (a run id), the
    record does not already hold that run's end."""

    expect: Mapping[str, Any] = field(default_factory=dict)
    newer_run: str = ""
    unless_ended: str = ""


def bounded(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` cut to what a record may hold, saying what was left out (see the module's docstring)."""
    out = dict(values)
    for name, value in values.items():
        if isinstance(value, str):
            if name == "error":
                out[name] = bound_text(value, max_bytes=MAX_ERROR_BYTES, max_lines=MAX_ERROR_LINES)
            elif name != "spec":
                out[name] = cut_chars(value, MAX_STRING_BYTES)
            elif len(value) > MAX_SPEC_BYTES:  # never a valid job's spec; kept readable, not runnable
                out[name] = cut_chars(value, MAX_SPEC_BYTES)
        elif name == "outputs" and isinstance(value, Mapping):
            out[name] = {cut_chars(str(k), 200): cut_chars(str(v), MAX_STRING_BYTES) for k, v in value.items()}
        elif name == "stages" and isinstance(value, list):
            out[name] = [cut_chars(str(s), 200) for s in value[:20]]
        elif name == "notified_runs" and isinstance(value, list):
            out[name] = [str(s)[:100] for s in value[-MAX_NOTIFIED_RUNS:]]
        elif name == "other_sources" and isinstance(value, list):
            out[name] = [cut_chars(str(s), MAX_STRING_BYTES) for s in value[-MAX_OTHER_SOURCES:]]
    return out


class JobTable(ABC):
    def create(self, record: JobRecord) -> bool:
        """Insert a new job; False (and nothing written) when the uuid exists."""
        return self._create(bounded(record.to_dict()))

    @abstractmethod
    def _create(self, values: Mapping[str, Any]) -> bool: ...

    @abstractmethod
    def get(self, uuid: str) -> JobRecord | None: ...

    @abstractmethod
    def get_many(self, uuids: Iterable[str], fields: Sequence[str] | None = None) -> dict[str, JobRecord]:
        """Batch read; missing uuids are absent from the result. `fields` limits what is read (the rest
        keeps its default), which keeps the intake's scan over thousands of jobs cheap."""

    @abstractmethod
    def list(self, *, limit: int = 50, status: str | None = None) -> list[JobRecord]:
        """Most recently submitted first."""

    @abstractmethod
    def _update(self, uuid: str, changes: Mapping[str, Any], when: WriteCondition) -> bool:
        """Set `changes` if the record exists and meets `when`; True when written."""

    @abstractmethod
    def claim_notice(self, uuid: str, run_id: str) -> bool:
        """Add `run_id` to the record's notified runs unless it is there: True once per run (the caller
        sends that run's end notice), False when it was claimed before or the record does not exist."""

    @abstractmethod
    def release_notice(self, uuid: str, run_id: str) -> None:
        """Undo a claim whose notice could not be sent, so that a later attempt sends it."""

    def _write(self, uuid: str, changes: Mapping[str, Any], when: WriteCondition) -> bool:
        return self._update(uuid, bounded(changes), when)

    def record_resubmission(
        self,
        uuid: str,
        *,
        old_etag: str,
        etag: str,
        modified: str,
        other_source: str = "",
        old_modified: str | None = None,
    ) -> bool:
        """Note that the job's JSON was uploaded again; True once per new upload (the caller reports it). The
        source fields name the latest upload of the record's own file; a file of the uuid in another folder
        (`other_source`, "<uri> <etag> <arrival>") is remembered instead, so that it is reported once whatever its
        time. `old_modified`, the upload the caller read, conditions the write too: the same bytes dropped again
        keep the ETag, and two intakes that saw that drop report it once. The write is conditioned on the last
        resubmission read too: another folder's file leaves the source fields as they were, so without it two
        intakes would each report it, or one would drop the other's entry and count."""
        record = self.get(uuid)
        if record is None or (other_source and other_source in record.other_sources):
            return False
        source = (
            {"other_sources": [*record.other_sources, other_source]}
            if other_source
            else {"source_etag": etag, "source_modified": modified}
        )
        return self._write(
            uuid,
            {
                **source,
                "resubmissions": record.resubmissions + 1,
                "last_resubmitted_at": utc_now(),
                "updated_at": utc_now(),
            },
            WriteCondition(
                expect={
                    "source_etag": old_etag,
                    **({"source_modified": old_modified} if old_modified is not None else {}),
                    "last_resubmitted_at": record.last_resubmitted_at,
                }
            ),
        )

    def record_source(self, uuid: str, *, old_etag: str, old_modified: str, etag: str, modified: str) -> bool:
        """The record's own file changed again as part of the upload it was taken from (a local copy that set its
        time back after the intake read it): name that upload's final state, counting nothing."""
        changes = {"source_etag": etag, "source_modified": modified, "updated_at": utc_now()}
        when = WriteCondition(expect={"source_etag": old_etag, "source_modified": old_modified})
        return self._write(uuid, changes, when)

    def replace_intake_failure(self, record: JobRecord, *, old_etag: str, old_modified: str | None = None) -> bool:
        """A job refused at intake (never ran) may be corrected and uploaded again under its uuid. `old_modified`,
        the upload the caller read, conditions the write too: the same bytes dropped again keep the ETag, and two
        intakes that saw that drop record (and report) it once."""
        changes = {k: v for k, v in record.to_dict().items() if k not in ("uuid", "notified_runs")}
        expect = {"source_etag": old_etag, "failed_at": "intake"}
        if old_modified is not None:
            expect["source_modified"] = old_modified
        return self._write(record.uuid, changes, WriteCondition(expect=expect))

    def replace_error(self, record: JobRecord, error: str) -> bool:
        """Set a record's error text if the record still holds what was read: a concurrent write (the
        run-status sensor recording a newer outcome) wins and this returns False."""
        expect = {"run_id": record.run_id, "status": record.status, "error": record.error}
        return self._write(record.uuid, {"error": error, "updated_at": utc_now()}, WriteCondition(expect=expect))

    def record_run(self, uuid: str, outcome: RunOutcome) -> bool:
        """Store a run's outcome unless a newer run of the job already reported, or (for a run's start)
        unless the record already holds that run's end: whichever sensor ticks first, the end stays."""
        changes: dict[str, Any] = {"status": outcome.status, "run_id": outcome.run_id, "updated_at": utc_now()}
        if outcome.started_at:
            changes["started_at"] = outcome.started_at
        if outcome.status not in TERMINAL:
            when = WriteCondition(newer_run=outcome.started_at or utc_now(), unless_ended=outcome.run_id)
            return self._write(uuid, changes, when)
        changes.update(
            ended_at=outcome.ended_at,
            elapsed_s=outcome.elapsed_s,
            stages=list(outcome.stages),
            error=outcome.error,
            failed_at="run" if outcome.status != "COMPLETE" else "",
        )
        if outcome.outputs:
            changes["outputs"] = dict(outcome.outputs)
        if outcome.metrics:
            changes["metrics"] = dict(outcome.metrics)
        return self._write(uuid, changes, WriteCondition(newer_run=outcome.started_at or utc_now()))


# -- resource ----------------------------------------------------------------------------------------


def open_job_table(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> JobTable:
    if url.startswith("dynamodb://"):
        from gs_dagster.resources.job_table_dynamo import DynamoJobTable

        name = url[len("dynamodb://") :].strip("/")
        if not name:
            raise ValueError(f"no table name in {url!r}")
        create = os.environ.get("GS_JOB_TABLE_CREATE", "1") not in ("0", "false", "no")
        return DynamoJobTable(name, endpoint_url=endpoint_url, region=region, create=create)
    from gs_dagster.resources.job_table_sqlite import SqliteJobTable

    if url.startswith("sqlite:///"):
        return SqliteJobTable(url[len("sqlite:///") :])  # sqlite:///rel/path or sqlite:////abs/path
    if "://" not in url:
        return SqliteJobTable(url)
    raise ValueError(f"job table must be sqlite:///path or dynamodb://table, got {url!r}")


class JobTableResource(dg.ConfigurableResource):
    """The job table: `sqlite:///path/jobs.sqlite3` (embedded default) or `dynamodb://table-name`."""

    url: str = Field(description="sqlite:///path/to/jobs.sqlite3 or dynamodb://table-name")
    endpoint_url: str | None = Field(default=None, description="DynamoDB endpoint (moto, LocalStack)")
    region: str | None = None

    def table(self) -> JobTable:
        return _cached_table(self.url, self.endpoint_url, self.region)


@functools.lru_cache(maxsize=16)
def _cached_table(url: str, endpoint_url: str | None, region: str | None) -> JobTable:
    return open_job_table(url, endpoint_url=endpoint_url, region=region)
