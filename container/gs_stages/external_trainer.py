"""Running a program of another environment (an external trainer's Python) from a stage.

Its output goes to the stage log line by line (debug level); when it fails, its last lines become the stage's
error, which the job record and notice carry. Its progress lines (`PROGRESS_PREFIX`, printed by the runners
grt_run.py and nerfacto_run.py from inside the other trainer's loop) feed the stage's progress tracker, so a
3dgrt or nerfacto run shows its step, loss and ETA in the Dagster UI as our own trainer's runs do.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from gs_stages.progress import ProgressTracker
from gs_stages.stage import StageError

#: A runner's progress line on stdout: this prefix, then JSON `{"step": int, "figures": {name: number}}`.
#: The runners run in other Pythons and import nothing from gs_stages, so each spells the prefix out.
PROGRESS_PREFIX = "GS_PROGRESS "


def read_progress(line: str) -> tuple[int, dict[str, float | int]] | None:
    """The step and figures of a runner's progress line; None for any other line or a malformed one."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        found = json.loads(line[len(PROGRESS_PREFIX) :])
        step = found["step"]
        figures = found.get("figures") or {}
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0 or not isinstance(figures, dict):
        return None
    kept = {
        str(name): value
        for name, value in figures.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }
    return step, kept


def run_logged(
    argv: Sequence[str],
    log: logging.Logger | logging.LoggerAdapter,
    name: str,
    result: Path,
    hint: str,
    env: Mapping[str, str] | None = None,
    tracker: ProgressTracker | None = None,
) -> None:
    """Run `argv` to its end; a StageError with its last lines when it fails or writes no `result`.
    Its progress lines go to `tracker` (which throttles them), not to the log or the error's lines."""
    process = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(env) if env else None
    )
    tail: deque[str] = deque(maxlen=30)
    assert process.stdout is not None
    for line in process.stdout:
        progress = read_progress(line)
        if progress is not None:
            if tracker is not None:
                tracker.update(*progress)
            continue
        tail.append(line.rstrip())
        log.debug("%s: %s", name, line.rstrip())
    if process.wait() != 0 or not result.is_file():
        lines = " | ".join(t for t in list(tail)[-8:] if t.strip()) or f"exit status {process.returncode}, no output"
        raise StageError(f"{name} failed: {lines}", hint=hint)


def check_held_out(evaluated: list[str] | None, held_out: list[str], trainer: str) -> None:
    """The views an external trainer evaluated must be our held-out views, or its PSNR is not comparable."""
    if sorted(evaluated or []) != sorted(held_out):
        raise StageError(f"{trainer} evaluated {evaluated}, not the held-out views {held_out}")
