"""Reading what the splat stage left for the spz stage, with the same advice whatever the file is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gs_stages.stage import StageError

T = TypeVar("T")


def read_splat_output(path: Path, read: Callable[[Path], T], what: str) -> T:
    """`read(path)`, or a StageError that says to run (or re-run) the splat stage."""
    if not path.is_file():
        raise StageError(f"no {what} at {path}", hint="run the splat stage for this job first")
    try:
        return read(path)
    except ValueError as exc:
        raise StageError(str(exc), hint="the splat stage's output is damaged; re-run it") from exc
