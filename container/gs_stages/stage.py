"""What every stage gets and gives: a context with input/output locations and options, metrics as data.

Stages never talk to S3 or Dagster: launchers put inputs on local disk and ship the output directory
back, so the same code runs in a subprocess, in the GPU container, and in tests.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gs_stages.errors import NotAvailableError, StageError, available_cores
from gs_stages.jobspec import JobSpec
from gs_stages.progress import ProgressTracker
from gs_stages.settings_model import StageSettings

T = TypeVar("T")
__all__ = ["STAGES", "STAGE_ORDER", "NotAvailableError", "StageContext", "StageError", "available_cores"]

#: Stage order; each stage's output directory is `<root>/<stage>/<uuid>/` in the chain layout.
STAGE_ORDER: tuple[str, ...] = ("frames", "masks", "sparse_model", "splat", "spz")


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
    # sparse_model: what a job with training off delivers (gs_stages/export/sparse.py)
    "spz": StageDef("spz", ("splat",), "gs_stages.export.stage:run", optional_inputs=("sparse_model",)),
}


#: Engine settings read straight from `ctx.settings` by stages that have no settings class: the masks
#: stage's weights folder and SAM 2 size (masks/weights.py), onnxruntime threads and SAM 2's Python
#: (masks/sam2_masks.py), the splat stage's nerfstudio venv and nerfacto knobs (nerf/trainer.py), 3DGRUT's
#: Python and overrides (grt/).
#: tests/stages/test_settings_names.py finds every name a stage reads and fails when one is missing here
#: or in a settings class.
DIRECT_SETTINGS: dict[str, tuple[str, ...]] = {
    "masks": ("segmentation_weights", "num_threads", "sam2_model", "sam2_python"),
    # training.model nerfacto (nerf/) and 3dgrt (grt/)
    "splat": ("nerfstudio_python", "nerfacto_export", "nerfacto_overrides", "grt_python", "grt_overrides"),
}


def settings_models() -> dict[str, type[StageSettings]]:
    """Each stage's typed settings model, where it has one.

    The settings modules import only pydantic and gs_stages.errors, so the Dagster side (no engine
    installed) can check GS_STAGE_SETTINGS too, names and values.
    """
    from gs_stages.export.settings import ExportSettings
    from gs_stages.frames.settings import FramesSettings
    from gs_stages.sfm.settings import SfmSettings
    from gs_stages.splat.settings import EngineSettings

    return {"frames": FramesSettings, "sparse_model": SfmSettings, "splat": EngineSettings, "spz": ExportSettings}


def setting_names() -> dict[str, tuple[str, ...]]:
    """The engine setting names each stage reads, from its settings model where it has one."""
    models = settings_models()
    return {
        stage: (models[stage].setting_names() if stage in models else ()) + DIRECT_SETTINGS.get(stage, ())
        for stage in STAGE_ORDER
    }


def known_settings() -> frozenset[str]:
    """Every engine setting name some stage reads: the one settings dict of a chain
    may hold any of them."""
    return frozenset(name for names in setting_names().values() for name in names)


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the known name closest to a mistyped one, else ''."""
    close = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


#: Settings no stage reads any more -> where that knob is now.
RETIRED_SETTINGS = {
    "sfm_min_registered_ratio": "the registered_ratio check's threshold (GS_MIN_REGISTERED_RATIO, resource "
    "quality.min_registered_ratio), which the SfM stage follows too",
}


def check_settings(settings: Mapping[str, Any], where: str = "engine setting") -> None:
    """Refuse a setting name no stage reads (a typo would otherwise be ignored and the default used),
    naming it and the closest known name, then any value a stage's settings model refuses."""
    known = known_settings()
    unknown = [name for name in settings if name not in known]
    if not unknown:
        check_values(settings)
        return
    retired = [f"{name} is now {RETIRED_SETTINGS[name]}" for name in unknown if name in RETIRED_SETTINGS]
    if retired:
        raise StageError(
            f"retired {where} {', '.join(repr(n) for n in unknown if n in RETIRED_SETTINGS)}", hint="; ".join(retired)
        )
    parts = [f"{name!r}{did_you_mean(name, known)}" for name in unknown]
    raise StageError(
        f"unknown {where}{'s' if len(unknown) > 1 else ''} {', '.join(parts)}: no stage reads "
        f"{'them' if len(unknown) > 1 else 'it'}",
        hint="engine settings are " + ", ".join(sorted(known)) + " (each stage's settings.py)",
    )


def check_values(settings: Mapping[str, Any]) -> None:
    """Refuse a value a stage's settings model refuses (a whole number given as text, a ratio over 1),
    before any stage runs: one StageError naming every bad setting and what to pass."""
    problems, hints = [], []
    for model in settings_models().values():
        try:
            model.from_mapping(settings)
        except StageError as exc:
            problems += [p for p in exc.message.split("; ") if p not in problems]
            hints += [h for h in (exc.hint or "").split("; ") if h and h not in hints]
    if problems:
        raise StageError("; ".join(problems), hint="; ".join(hints))


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

    def tracker(self, phase: str, total: int | None = None, eta: bool = True) -> ProgressTracker:
        """Progress updates of one phase of this stage, to the run's event log under Pipes (else the log)."""
        from gs_stages.reporter import reporter

        sink = reporter()
        return ProgressTracker(self.stage, phase, total, sink.progress, sink.progress_interval_s, eta=eta)

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """Iterate a long loop with a progress bar on stderr (tqdm, when installed) and throttled progress
        updates (`tracker`) of the phase `desc` (default: the stage's name)."""
        phase = desc.split(":", 1)[-1].strip() if desc else self.stage
        tracker = self.tracker(phase or self.stage, total)
        tracker.update(0)
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm ships with the engine extra
            bar: Iterable[T] = items
        else:
            bar = tqdm(items, total=total, desc=desc or self.stage, mininterval=2.0, leave=False)
        for done, item in enumerate(bar, start=1):
            yield item
            tracker.update(done)


def chain_dir(root: Path, stage: str, uuid: str) -> Path:
    """The storage layout shared with the Dagster side: `<root>/<asset>/<uuid>/`."""
    return Path(root) / stage / uuid
