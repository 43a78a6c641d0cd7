"""A job file's text and how a problem with a job is worded: the text read as JSON (or why it cannot be), the
error that lists every problem with its JSON path, and values shown as the user wrote them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


class JobSpecError(ValueError):
    """Every problem of one job document, each with its JSON path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = "\n".join(f"  - {path}: {message}" for path, message in problems)
        super().__init__(f"invalid job JSON ({len(problems)} problem{'s' * (len(problems) != 1)}):\n{lines}")


def json_text(value: Any, limit: int = 200) -> str:
    """A value as the user wrote it in JSON (null, true, 3), not as Python prints it; cut at `limit`."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def json_type(value: Any) -> str:
    """The JSON name of a value's type (an array, not a list)."""
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def json_path(loc: Iterable[int | str]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path[2:] if path.startswith("$.") else path


def alias_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Pydantic reports aliases for input errors already; keep only the JSON keys."""
    return tuple(part for part in loc if not (isinstance(part, str) and part.startswith("function-")))


def document_of(data: str | bytes) -> Any:
    """The JSON value of a job file's text, or JobSpecError saying what is wrong with the text itself."""
    if not data.strip():
        raise JobSpecError([("$", "the job file is empty; it must hold one JSON object")])
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise JobSpecError(
            [("$", f"not UTF-8 text: byte {exc.object[exc.start : exc.start + 1]!r} at offset {exc.start}; "
                   "save the job file as UTF-8")]
        ) from None  # fmt: skip
    except json.JSONDecodeError as exc:
        raise JobSpecError([("$", f"not valid JSON: {exc}")]) from None
