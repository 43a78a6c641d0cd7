"""The job table in SQLite (the embedded default): one `jobs` table, maps and lists as JSON text.

A failed read or write (disk full, a locked or unreadable file) is a JobTableError, WriteCondition that names the
file and what to do, not a bare sqlite3 traceback.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gs_dagster.resources import job_table as table_schema
from gs_dagster.resources.job_table import JobRecord, JobTable, JobTableError, WriteCondition


class SqliteJobTable(JobTable):
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            columns = ", ".join(
                f"{name} {'TEXT PRIMARY KEY' if name == 'uuid' else self._sql_type(name)}"
                for name in table_schema.FIELD_NAMES
            )
            db.execute(f"CREATE TABLE IF NOT EXISTS jobs ({columns})")
            db.execute("CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs (submitted_at)")
            known = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            for name in table_schema.FIELD_NAMES:  # a table made by an older version gains the new columns
                if name not in known:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {self._sql_type(name)}")

    @staticmethod
    def _sql_type(name: str) -> str:
        return {"elapsed_s": "REAL", "resubmissions": "INTEGER"}.get(name, "TEXT")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA busy_timeout=30000")
                yield db
            finally:
                db.close()
        except sqlite3.Error as exc:
            fix = "free space on its disk" if "full" in str(exc) else "check that the file can be written"
            raise JobTableError(
                f"the job table {self.path} could not be read or written: {exc}. To fix: {fix} (or point "
                "GS_JOB_TABLE at another place)"
            ) from exc

    @staticmethod
    def _to_row(values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: json.dumps(v) if k in table_schema.JSON_FIELDS else v for k, v in values.items()}

    @staticmethod
    def _from_row(row: sqlite3.Row) -> JobRecord:
        values = {k: row[k] for k in row.keys() if k in table_schema.FIELD_NAMES and row[k] is not None}  # noqa: SIM118
        for name in table_schema.JSON_FIELDS:
            if name in values:
                values[name] = json.loads(values[name])
        return JobRecord(**values)

    def _create(self, values: Mapping[str, Any]) -> bool:
        row = self._to_row(values)
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
        columns = (
            ", ".join(dict.fromkeys(["uuid", *(f for f in fields if f in table_schema.FIELD_NAMES)])) if fields else "*"
        )
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

    def _update(self, uuid: str, changes: Mapping[str, Any], when: WriteCondition) -> bool:
        expect, newer_run, unless_ended = when.expect, when.newer_run, when.unless_ended
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
        if unless_ended:
            ended = ", ".join(f"'{s}'" for s in table_schema.TERMINAL)
            conditions.append(f"NOT (COALESCE(run_id, '') = :ended_run AND COALESCE(status, '') IN ({ended}))")
            params["ended_run"] = unless_ended
        with self._lock, self._connect() as db:
            cursor = db.execute(f"UPDATE jobs SET {sets} WHERE {' AND '.join(conditions)}", params)
            return cursor.rowcount == 1

    def claim_notice(self, uuid: str, run_id: str) -> bool:
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # read and write as one step against other processes
            row = db.execute("SELECT notified_runs FROM jobs WHERE uuid = ?", [uuid]).fetchone()
            runs = json.loads(row[0]) if row and row[0] else []
            if row is None or run_id in runs:
                db.execute("ROLLBACK")
                return False
            runs = [*runs, run_id][-table_schema.MAX_NOTIFIED_RUNS :]
            db.execute("UPDATE jobs SET notified_runs = ? WHERE uuid = ?", [json.dumps(runs), uuid])
            db.execute("COMMIT")
            return True

    def release_notice(self, uuid: str, run_id: str) -> None:
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT notified_runs FROM jobs WHERE uuid = ?", [uuid]).fetchone()
            runs = [r for r in (json.loads(row[0]) if row and row[0] else []) if r != run_id]
            db.execute("UPDATE jobs SET notified_runs = ? WHERE uuid = ?", [json.dumps(runs), uuid])
            db.execute("COMMIT")
