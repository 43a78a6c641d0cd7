"""Where the intake sensor is in its sweep and what one tick did: the cursor (a position, plus the job files
whose handling failed and how often), the tick's counts, and the uuid a job file's name claims."""

import json
import logging
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

log = logging.getLogger("gs_dagster.intake")

#: Job files whose handling failed and is retried, remembered in the cursor (the oldest are forgotten).
MAX_FAILING_REMEMBERED = 100


@dataclass
class IntakeCursor:
    after: str = ""  # last key handled in the current sweep ("" = start of the listing)
    sweeps: int = 0  # completed sweeps
    #: key -> ["<etag> <arrival>", failed attempts] of job files whose handling raised (retried up to max_attempts)
    failing: dict[str, list[Any]] = field(default_factory=dict)
    #: the tick deferred a local file still being written (judged once left alone): one-shot processing waits
    settling: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> "IntakeCursor":
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            failing = {str(k): [str(v[0]), int(v[1])] for k, v in dict(data.get("failing") or {}).items()}
            return cls(
                after=str(data.get("after", "")),
                sweeps=int(data.get("sweeps", 0)),
                failing=failing,
                settling=bool(data.get("settling", False)),
            )
        except (ValueError, TypeError, AttributeError, IndexError, KeyError):
            log.warning("intake cursor %r unreadable; starting a new sweep", raw)
            return cls()

    def dump(self) -> str:
        failing = dict(list(self.failing.items())[-MAX_FAILING_REMEMBERED:])
        extra = {**({"failing": failing} if failing else {}), **({"settling": True} if self.settling else {})}
        return json.dumps({"after": self.after, "sweeps": self.sweeps, **extra})

    def attempt_failed(self, key: str, upload: str) -> int:
        """Count one more failed attempt at this upload of `key` (its ETag and arrival); returns the count."""
        previous = self.failing.pop(key, None)
        count = previous[1] + 1 if previous and previous[0] == upload else 1
        self.failing[key] = [upload, count]
        return count


@dataclass
class IntakeTick:
    cursor: IntakeCursor
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    new_partitions: list[str] = field(default_factory=list)
    listed: int = 0
    submitted: int = 0
    refused: int = 0
    duplicates: int = 0
    deferred: int = 0
    errors: int = 0
    sweep_done: bool = False
    seconds: float = 0.0

    @property
    def handled(self) -> int:
        """Uploads that took work this tick (reads, writes, notices): what the per-tick cap counts."""
        return self.submitted + self.refused + self.duplicates

    def summary(self) -> str:
        where = "sweep complete" if self.sweep_done else f"continues after {self.cursor.after!r}"
        return (
            f"listed {self.listed} key(s) in {self.seconds:.2f} s: {self.submitted} submitted, "
            f"{self.refused} refused, {self.duplicates} resubmission(s), {self.deferred} waiting for media, "
            f"{self.errors} error(s); {where}"
        )


def printable(text: str) -> str:
    """`text` as it can be stored, sent and printed: bytes of a local file name that are not UTF-8 (Python
    holds them as lone surrogates, which SQLite, DynamoDB and SNS refuse) and control characters (a key
    may hold a newline) written as \\xNN."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in text)


def job_uuid_of(key: str) -> str:
    """The uuid a job file's name claims (`<uuid>.json`); the record of a refused file is kept under it,
    so it is never empty (a file named `.json` is recorded as `.json`)."""
    name = printable(key.rsplit("/", 1)[-1])
    stem = name[: -len(".json")] if name.lower().endswith(".json") else name
    return stem or name
