"""Wall time of each sub-step of a stage, in seconds, for its metrics.json and the benchmarks.

Why shared: the frames and the sparse_model stages both report where their time went; one timer keeps
their figures alike (summed per sub-step, rounded to milliseconds once, when reported).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StepTimer:
    """Seconds per sub-step name; a name timed more than once adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def rounded(self) -> dict[str, float]:
        """Each sub-step's seconds, to the millisecond."""
        return {k: round(v, 3) for k, v in self.seconds.items()}

    def metrics(self) -> dict[str, float]:
        """The frames stage's form: `seconds_<step>` metrics."""
        return {f"seconds_{k}": v for k, v in self.rounded().items()}
