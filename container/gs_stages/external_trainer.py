"""Running a program of another environment (an external trainer's Python) from a stage.

Its output goes to the stage log line by line (debug level), so a long run shows in the log as it goes;
when it fails, its last lines become the stage's error, which the job record and notice carry.
"""

from __future__ import annotations

import logging
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from gs_stages.stage import StageError


def run_logged(
    argv: Sequence[str],
    log: logging.Logger | logging.LoggerAdapter,
    name: str,
    result: Path,
    hint: str,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run `argv` to its end; a StageError with its last lines when it fails or writes no `result`."""
    process = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(env) if env else None
    )
    tail: deque[str] = deque(maxlen=30)
    assert process.stdout is not None
    for line in process.stdout:
        tail.append(line.rstrip())
        log.debug("%s: %s", name, line.rstrip())
    if process.wait() != 0 or not result.is_file():
        lines = " | ".join(t for t in list(tail)[-8:] if t.strip()) or f"exit status {process.returncode}, no output"
        raise StageError(f"{name} failed: {lines}", hint=hint)


def check_held_out(evaluated: list[str] | None, held_out: list[str], trainer: str) -> None:
    """The views an external trainer evaluated must be our held-out views, or its PSNR is not comparable."""
    if sorted(evaluated or []) != sorted(held_out):
        raise StageError(f"{trainer} evaluated {evaluated}, not the held-out views {held_out}")
