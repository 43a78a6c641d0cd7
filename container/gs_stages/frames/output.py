"""Output naming and step timing shared by the video and archive paths."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gs_stages.layout import IMAGES_DIR, MANIFEST, PRIORS_DIR

#: Scratch folder inside the output for images whose final name is known only after filtering.
STAGING_DIR = ".staging"


def frame_name(index: int) -> str:
    return f"{index:06d}.jpg"


def prepare_output(output: Path) -> Path:
    """Empty what this stage writes, so a retry into the same folder leaves no stale frames."""
    for name in (IMAGES_DIR, PRIORS_DIR, STAGING_DIR):
        shutil.rmtree(output / name, ignore_errors=True)
    (output / MANIFEST).unlink(missing_ok=True)
    images = output / IMAGES_DIR
    images.mkdir(parents=True)
    return images


class StepTimer:
    """Seconds spent per sub-step, reported as `seconds_<step>` metrics."""

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

    def metrics(self) -> dict[str, float]:
        return {f"seconds_{k}": round(v, 3) for k, v in self.seconds.items()}
