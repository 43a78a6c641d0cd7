"""The job table: one record per job uuid, the source of truth for what was submitted and how it ended.

One interface, two backends with the same schema:

- SQLite (embedded default): `sqlite:///path/to/jobs.sqlite3`
- DynamoDB (AWS): `dynamodb://table-name`; partition key `uuid` (S), on-demand billing.

Every write that could race is conditional: a job is created only if its uuid is new, a re-submission
is reported once (conditioned on the object's previous ETag), and a run's outcome never overwrites the
outcome of a newer run of the same job.

Attributes (DynamoDB type in brackets; SQLite stores maps and lists as JSON text):
    uuid [S], status [S] (SUBMITTED, RUNNING, COMPLETE, FAILED, CANCELED),
    submitted_at, updated_at, started_at, ended_at [S, ISO-8601 UTC], elapsed_s [N],
    source_uri, source_etag, source_modified, media_uri [S], spec [S, the canonical job JSON],
    failed_at [S] ("intake" or "run"), error [S], run_id [S], stages [L of S],
    outputs [M of S], metrics [M of N], resubmissions [N], last_resubmitted_at [S].
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

TERMINAL = ("COMPLETE", "FAILED", "CANCELED")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELD_NAMES = tuple(f.name for f in fields(JobRecord))
_JSON_FIELDS = ("stages", "outputs", "metrics")


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


class JobTable(ABC):
    @abstractmethod
    def create(self, record: JobRecord) -> bool:
        """Insert a new job; False (and nothing written) when the uuid exists."""

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
    def _update(self, uuid: str, changes: Mapping[str, Any], expect: Mapping[str, Any], newer_run: str) -> bool:
        """Set `changes` if every `expect` attribute equals its value (None = absent or empty) and, when
        `newer_run` is given, the stored run started no later than it. True when written."""

    def record_resubmission(self, uuid: str, *, old_etag: str, etag: str, modified: str) -> bool:
        """Note that the job's JSON was uploaded again; True once per new upload (the caller reports it)."""
        record = self.get(uuid)
        if record is None:
            return False
        return self._update(
            uuid,
            {
                "source_etag": etag,
                "source_modified": modified,
                "resubmissions": record.resubmissions + 1,
                "last_resubmitted_at": utc_now(),
                "updated_at": utc_now(),
            },
            {"source_etag": old_etag},
            "",
        )

    def replace_intake_failure(self, record: JobRecord, *, old_etag: str) -> bool:
        """A job refused at intake (never ran) may be corrected and uploaded again under its uuid."""
        changes = {k: v for k, v in record.to_dict().items() if k != "uuid"}
        return self._update(record.uuid, changes, {"source_etag": old_etag, "failed_at": "intake"}, "")

    def replace_error(self, record: JobRecord, error: str) -> bool:
        """Set a record's error text if the record still holds what was read: a concurrent write (the
        run-status sensor recording a newer outcome) wins and this returns False."""
        expect = {"run_id": record.run_id, "status": record.status, "error": record.error}
        return self._update(record.uuid, {"error": error, "updated_at": utc_now()}, expect, "")

    def record_run(self, uuid: str, outcome: RunOutcome) -> bool:
        """Store a run's outcome unless a newer run of the job already reported."""
        changes: dict[str, Any] = {"status": outcome.status, "run_id": outcome.run_id, "updated_at": utc_now()}
        if outcome.started_at:
            changes["started_at"] = outcome.started_at
        if outcome.status in TERMINAL:
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
        return self._update(uuid, changes, {}, outcome.started_at or utc_now())


# -- SQLite ------------------------------------------------------------------------------------------


class SqliteJobTable(JobTable):
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            columns = ", ".join(
                f"{name} {'TEXT PRIMARY KEY' if name == 'uuid' else self._sql_type(name)}" for name in FIELD_NAMES
            )
            db.execute(f"CREATE TABLE IF NOT EXISTS jobs ({columns})")
            db.execute("CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs (submitted_at)")

    @staticmethod
    def _sql_type(name: str) -> str:
        return {"elapsed_s": "REAL", "resubmissions": "INTEGER"}.get(name, "TEXT")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    @staticmethod
    def _to_row(values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: json.dumps(v) if k in _JSON_FIELDS else v for k, v in values.items()}

    @staticmethod
    def _from_row(row: sqlite3.Row) -> JobRecord:
        values = {k: row[k] for k in row.keys() if k in FIELD_NAMES and row[k] is not None}  # noqa: SIM118
        for name in _JSON_FIELDS:
            if name in values:
                values[name] = json.loads(values[name])
        return JobRecord(**values)

    def create(self, record: JobRecord) -> bool:
        row = self._to_row(record.to_dict())
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock, self._connect() as db:
            cursor = db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks}) ON CONFLICT(uuid) DO NOTHING", row)
            return cursor.rowcount == 1

    def get(self, uuid: str) -> JobRecord | None:
        return self.get_many([uuid]).get(uuid)

    def get_many(self, uuids: Iterable[str], fields: Sequence[str] | None = None) -> dict[str, JobRecord]:
        wanted = list(dict.fromkeys(uuids))
        found: dict[str, JobRecord] = {}
        columns = ", ".join(dict.fromkeys(["uuid", *(f for f in fields if f in FIELD_NAMES)])) if fields else "*"
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                for row in db.execute(f"SELECT {columns} FROM jobs WHERE uuid IN ({marks})", chunk):
                    record = self._from_row(row)
                    found[record.uuid] = record
        return found

    def list(self, *, limit: int = 50, status: str | None = None) -> list[JobRecord]:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            where, args = ("WHERE status = ?", [status]) if status else ("", [])
            rows = db.execute(f"SELECT * FROM jobs {where} ORDER BY submitted_at DESC LIMIT ?", [*args, limit])
            return [self._from_row(r) for r in rows]

    def _update(self, uuid: str, changes: Mapping[str, Any], expect: Mapping[str, Any], newer_run: str) -> bool:
        row = self._to_row(changes)
        sets = ", ".join(f"{k} = :set_{k}" for k in row)
        params: dict[str, Any] = {f"set_{k}": v for k, v in row.items()}
        params["uuid"] = uuid
        conditions = ["uuid = :uuid"]
        for k, v in expect.items():
            if v in (None, ""):
                conditions.append(f"({k} IS NULL OR {k} = '')")
            else:
                conditions.append(f"{k} = :exp_{k}")
                params[f"exp_{k}"] = v
        if newer_run:
            conditions.append("(started_at IS NULL OR started_at = '' OR started_at <= :newer_run)")
            params["newer_run"] = newer_run
        with self._lock, self._connect() as db:
            cursor = db.execute(f"UPDATE jobs SET {sets} WHERE {' AND '.join(conditions)}", params)
            return cursor.rowcount == 1


# -- DynamoDB ----------------------------------------------------------------------------------------


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


@functools.lru_cache(maxsize=8)
def _dynamodb(endpoint_url: str | None, region: str | None) -> Any:
    import boto3

    return boto3.resource(
        "dynamodb",
        endpoint_url=endpoint_url or None,
        region_name=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


class DynamoJobTable(JobTable):
    def __init__(
        self, table_name: str, *, endpoint_url: str | None = None, region: str | None = None, create: bool = True
    ):
        self.resource = _dynamodb(endpoint_url, region)
        self.table_name = table_name
        self.table = self.resource.Table(table_name)
        if create:
            self._ensure_table()

    def _ensure_table(self) -> None:
        client = self.resource.meta.client
        try:
            client.describe_table(TableName=self.table_name)
        except client.exceptions.ResourceNotFoundException:
            with contextlib.suppress(client.exceptions.ResourceInUseException):
                client.create_table(
                    TableName=self.table_name,
                    KeySchema=[{"AttributeName": "uuid", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "uuid", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            client.get_waiter("table_exists").wait(TableName=self.table_name)

    @staticmethod
    def _record(item: Mapping[str, Any]) -> JobRecord:
        values = {k: _from_dynamo(v) for k, v in item.items() if k in FIELD_NAMES}
        if "elapsed_s" in values and values["elapsed_s"] is not None:
            values["elapsed_s"] = float(values["elapsed_s"])
        return JobRecord(**values)

    def create(self, record: JobRecord) -> bool:
        client = self.resource.meta.client
        item = {k: _to_dynamo(v) for k, v in record.to_dict().items() if v is not None}
        try:
            self.table.put_item(
                Item=item, ConditionExpression="attribute_not_exists(#u)", ExpressionAttributeNames={"#u": "uuid"}
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, uuid: str) -> JobRecord | None:
        item = self.table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        return self._record(item) if item else None

    def get_many(self, uuids: Iterable[str], fields: Sequence[str] | None = None) -> dict[str, JobRecord]:
        wanted = list(dict.fromkeys(uuids))
        spec: dict[str, Any] = {"ConsistentRead": True}
        if fields:
            names = list(dict.fromkeys(["uuid", *(f for f in fields if f in FIELD_NAMES)]))
            spec["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(names)))
            spec["ExpressionAttributeNames"] = {f"#p{i}": n for i, n in enumerate(names)}
        # The resource's client (thread-safe, unlike resources) converts DynamoDB types both ways.
        client = self.resource.meta.client

        def batch(keys: list[str]) -> list[JobRecord]:
            records: list[JobRecord] = []
            request = {self.table_name: {**spec, "Keys": [{"uuid": k} for k in keys]}}
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    records.append(self._record(item))
                request = response.get("UnprocessedKeys") or {}
            return records

        chunks = [wanted[i : i + 100] for i in range(0, len(wanted), 100)]
        with ThreadPoolExecutor(max_workers=min(4, max(1, len(chunks)))) as pool:
            return {r.uuid: r for records in pool.map(batch, chunks) for r in records}

    def list(self, *, limit: int = 50, status: str | None = None) -> list[JobRecord]:
        # A scan: fine for an operator's listing; the hot paths use get/get_many by key.
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {}
        while True:
            response = self.table.scan(**kwargs)
            records.extend(self._record(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if status:
            records = [r for r in records if r.status == status]
        records.sort(key=lambda r: r.submitted_at, reverse=True)
        return records[:limit]

    def _update(self, uuid: str, changes: Mapping[str, Any], expect: Mapping[str, Any], newer_run: str) -> bool:
        client = self.resource.meta.client
        names: dict[str, str] = {"#uuid": "uuid"}
        values: dict[str, Any] = {}
        sets, removes = [], []
        for i, (k, v) in enumerate(changes.items()):
            names[f"#f{i}"] = k
            if v is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = _to_dynamo(v)
                sets.append(f"#f{i} = :v{i}")
        conditions = ["attribute_exists(#uuid)"]
        for i, (k, v) in enumerate(expect.items()):
            names[f"#e{i}"] = k
            if v in (None, ""):
                values[":empty"] = ""
                conditions.append(f"(attribute_not_exists(#e{i}) OR #e{i} = :empty)")
            else:
                values[f":e{i}"] = v
                conditions.append(f"#e{i} = :e{i}")
        if newer_run:
            names["#started"] = "started_at"
            values[":newer"] = newer_run
            values[":empty"] = ""
            conditions.append("(attribute_not_exists(#started) OR #started = :empty OR #started <= :newer)")
        expression = ("SET " + ", ".join(sets)) if sets else ""
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self.table.update_item(
                Key={"uuid": uuid},
                UpdateExpression=expression.strip(),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True


# -- resource ----------------------------------------------------------------------------------------


def open_job_table(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> JobTable:
    if url.startswith("dynamodb://"):
        name = url[len("dynamodb://") :].strip("/")
        if not name:
            raise ValueError(f"no table name in {url!r}")
        create = os.environ.get("GS_JOB_TABLE_CREATE", "1") not in ("0", "false", "no")
        return DynamoJobTable(name, endpoint_url=endpoint_url, region=region, create=create)
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
