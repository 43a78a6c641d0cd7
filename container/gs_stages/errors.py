"""What a stage raises for a problem the user can act on, and the cores it may use: a leaf module.

The settings modules (`frames/settings.py`, `sfm/settings.py`, `splat/settings.py`) import these from
here, not from gs_stages.stage, which reads their setting names: so stage.py -> settings is one-way.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may use (its CPU affinity, e.g. a container's share), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class StageError(RuntimeError):
    """A failure the user can act on: `hint` says what to try. The CLI prints it without a traceback."""

    def __init__(self, message: str, hint: str | None = None, stage: str | None = None):
        # `stage`: the stage the problem belongs to, when a chain finds it before that stage runs.
        self.message, self.hint, self.stage = message, hint, stage
        super().__init__(message if not hint else f"{message}\nWhat to try: {hint}")


class NotAvailableError(StageError):
    """An option the job spec accepts but this build cannot run (never silently replaced)."""
