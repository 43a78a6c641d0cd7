"""Progress of a long stage, for the people watching a run: which phase, how far, how good so far, when done.

A stage makes a `ProgressTracker` per phase (`ctx.tracker("training", total)`) and calls `update(step)` as
often as it likes; the tracker sends an update only on the first call, on the last step, and otherwise at
most once per interval, so a run yields a few events a minute, not one per step. Figures that cost
something to compute (a loss that needs a GPU sync) are passed as a function and only evaluated when an
update is sent.

Under Dagster Pipes an update travels as a custom message (`ProgressUpdate.to_message`); the Dagster side
turns it back (`ProgressUpdate.from_message`) into a log line and an asset observation. The interval is
the Dagster side's to choose (Pipes extras key `INTERVAL_EXTRA`), so a test can ask for more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The `event` of a progress custom message.
PROGRESS_EVENT = "progress"
#: Pipes extras key: seconds between two progress updates of one phase.
INTERVAL_EXTRA = "gs_progress_interval_s"
DEFAULT_INTERVAL_S = 20.0
#: Weight of the newest window in the smoothed pace behind an ETA.
PACE_WEIGHT = 0.3

Figures = Mapping[str, float | int]


def short_duration(seconds: float) -> str:
    """`45s`, `12m 05s`, `2h 03m`: an ETA or elapsed time at a glance."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _figure_text(name: str, value: float | int) -> str:
    if isinstance(value, float):
        return f"{name} {value:.4g}"
    return f"{value:,} {name}" if name == "Gaussians" else f"{name} {value:,}"


@dataclass(frozen=True)
class ProgressUpdate:
    """How far one phase of a stage is: `step` of `total` (None: open-ended), with figures so far."""

    stage: str
    phase: str
    step: int
    total: int | None
    elapsed_s: float
    eta_s: float | None = None
    figures: dict[str, float | int] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.step / self.total) if self.total else None

    @property
    def where(self) -> str:
        """`splat training`: the stage and its phase."""
        return f"{self.stage} {self.phase}" if self.phase != self.stage else self.stage

    def text(self) -> str:
        """One readable line: `splat training: step 1,200/7,000 (17%), loss 0.0412, 120,345 Gaussians, ETA 4m 10s`."""
        done = f"step {self.step:,}" + (f"/{self.total:,} ({self.fraction:.0%})" if self.total else "")
        parts = [done, *(_figure_text(name, value) for name, value in self.figures.items())]
        if self.eta_s is not None:
            parts.append(f"ETA {short_duration(self.eta_s)}")
        return f"{self.where}: {', '.join(parts)}"

    def to_message(self) -> dict[str, Any]:
        return {
            "event": PROGRESS_EVENT,
            "stage": self.stage,
            "phase": self.phase,
            "step": self.step,
            "total": self.total,
            "elapsed_s": round(self.elapsed_s, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "figures": dict(self.figures),
        }

    @classmethod
    def from_message(cls, message: Any) -> ProgressUpdate | None:
        """The update a custom message carries, or None for any other message (or a malformed one)."""
        if not isinstance(message, Mapping) or message.get("event") != PROGRESS_EVENT:
            return None
        try:
            figures = {
                str(k): v
                for k, v in dict(message.get("figures") or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            }
            total, eta = message.get("total"), message.get("eta_s")
            return cls(
                stage=str(message["stage"]),
                phase=str(message.get("phase") or message["stage"]),
                step=int(message["step"]),
                total=None if total is None else int(total),
                elapsed_s=float(message.get("elapsed_s") or 0.0),
                eta_s=None if eta is None else float(eta),
                figures=figures,
            )
        except (KeyError, TypeError, ValueError):
            return None


class ProgressTracker:
    """Throttles one phase's updates by time: always the first and the last, else one per `interval_s`."""

    def __init__(
        self,
        stage: str,
        phase: str,
        total: int | None,
        send: Callable[[ProgressUpdate], None],
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        eta: bool = True,
    ):
        """`eta`: whether the pace of steps says when the phase ends (not for, e.g., images registered)."""
        self.stage, self.phase, self.total, self.eta = stage, phase, total, eta
        self.send, self.interval_s, self.clock = send, max(0.0, interval_s), clock
        self.started = clock()
        self.sent = 0
        self.last: tuple[float, int] | None = None  # (time, step) of the last update sent
        self.pace: float | None = None  # smoothed seconds per step

    def due(self, step: int) -> bool:
        if self.last is None or (self.total is not None and step >= self.total and self.last[1] < step):
            return True
        return self.clock() - self.last[0] >= self.interval_s

    def update(self, step: int, figures: Figures | Callable[[], Figures] | None = None, *, last: bool = False) -> bool:
        """Send an update for `step` when one is due (`last`: always, the phase ends here); returns whether
        it was sent."""
        if not (last or self.due(step)):
            return False
        now = self.clock()
        values = figures() if callable(figures) else figures
        self.send(
            ProgressUpdate(
                stage=self.stage,
                phase=self.phase,
                step=step,
                total=self.total,
                elapsed_s=now - self.started,
                eta_s=self._eta(now, step),
                figures=dict(values or {}),
            )
        )
        self.last = (now, step)
        self.sent += 1
        return True

    def _eta(self, now: float, step: int) -> float | None:
        """Remaining steps at the recent pace: seconds per step between updates, smoothed (an exponential
        average, `PACE_WEIGHT` to the newest window). The pace drifts (coarse to fine, more Gaussians) and
        jitters on a shared machine; neither the whole-run average nor the last window alone reads well."""
        if not self.eta or self.total is None or self.last is None or step >= self.total:
            return None
        seconds, steps = now - self.last[0], step - self.last[1]
        if steps > 0 and seconds > 0:
            pace = seconds / steps
            self.pace = pace if self.pace is None else PACE_WEIGHT * pace + (1 - PACE_WEIGHT) * self.pace
        return None if self.pace is None else (self.total - step) * self.pace
