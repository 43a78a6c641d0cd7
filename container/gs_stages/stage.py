"""What every stage gets and gives: a context with input/output locations and options, metrics as data.

Stages never talk to S3 or Dagster: launchers put inputs on local disk and ship the output directory
back, so the same code runs in a subprocess, in the GPU container, and in tests.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gs_stages.jobspec import JobSpec

T = TypeVar("T")

#: Stage order; each stage's output directory is `<root>/<stage>/<uuid>/` in the chain layout.
STAGE_ORDER: tuple[str, ...] = ("frames", "masks", "sparse_model", "splat", "spz")


class StageError(RuntimeError):
    """A failure the user can act on: `hint` says what to try. The CLI prints it without a traceback."""

    def __init__(self, message: str, hint: str | None = None):
        self.message, self.hint = message, hint
        super().__init__(message if not hint else f"{message}\nWhat to try: {hint}")


class NotAvailableError(StageError):
    """An option the job spec accepts but this build cannot run (never silently replaced)."""


@dataclass(frozen=True)
class StageDef:
    name: str
    inputs: tuple[str, ...]  # names of the input locations the stage reads (earlier stages or "media")
    entry: str  # "module:function", imported lazily so `--help` needs no torch
    optional_inputs: tuple[str, ...] = ()

    def load(self) -> Callable[[StageContext], dict[str, Any]]:
        module, function = self.entry.split(":")
        return getattr(importlib.import_module(module), function)


STAGES: dict[str, StageDef] = {
    "frames": StageDef("frames", ("media",), "gs_stages.frames.stage:run"),
    "masks": StageDef("masks", ("frames",), "gs_stages.masks:run"),
    "sparse_model": StageDef("sparse_model", ("frames",), "gs_stages.sfm.stage:run", optional_inputs=("masks",)),
    "splat": StageDef("splat", ("frames", "sparse_model"), "gs_stages.splat.stage:run", optional_inputs=("masks",)),
    "spz": StageDef("spz", ("splat",), "gs_stages.export.stage:run"),
}


@dataclass
class StageContext:
    """Everything a stage run needs. `inputs` maps an input name to a local directory (or file for media)."""

    stage: str
    spec: JobSpec
    inputs: dict[str, Path]
    output: Path
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("gs_stages"))
    #: Extra engine settings that are not part of the job JSON (e.g. a max image side for tests).
    settings: dict[str, Any] = field(default_factory=dict)

    def input(self, name: str) -> Path:
        try:
            return self.inputs[name]
        except KeyError:
            raise StageError(f"stage {self.stage!r} needs its {name!r} input, which was not given") from None

    def optional_input(self, name: str) -> Path | None:
        path = self.inputs.get(name)
        return path if path is not None and path.exists() else None

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """A progress bar on stderr (tqdm) for long loops; plain iteration when tqdm is absent."""
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm ships with the engine extra
            yield from items
            return
        yield from tqdm(items, total=total, desc=desc or self.stage, mininterval=2.0, leave=False)


def chain_dir(root: Path, stage: str, uuid: str) -> Path:
    """The storage layout shared with the Dagster side: `<root>/<asset>/<uuid>/`."""
    return Path(root) / stage / uuid
