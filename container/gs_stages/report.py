"""Where a stage's metrics go besides `metrics.json`: Dagster, when the process runs under Pipes.

Outside Pipes (tests, a user's shell) the reporter only logs. Under Pipes each finished stage is
reported as a materialization of the asset with the stage's name, so one launch that runs several
stages materializes each of them. The materialization carries every metric, the headline figures
under fixed names (`frame_count`, `registered_images`, `psnr`, `num_gaussians`, `spz_bytes`, ...)
and, for the splat, the name of the preview image in its output (never the image itself).

Quality checks run here too, right after the stage they judge, so that a blocking check that fails
stops the chain before a bad result reaches the next stage (one launch runs several stages, so
Dagster cannot stop it between them). The Dagster side names the checks to run in the Pipes extras
(`gs_checks`); the same `evaluate_check` judges stored outputs when Dagster runs a check on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gs_stages.layout import IMAGES_DIR, PREVIEW_PNG
from gs_stages.progress import DEFAULT_INTERVAL_S, INTERVAL_EXTRA, ProgressUpdate

log = logging.getLogger("gs_stages")

#: Pipes extras key: a list of {"stage", "name", "blocking", "params"} for the selected checks.
CHECKS_EXTRA = "gs_checks"
#: Pipes custom message sent when a stage fails: {"event": "stage_failed", "stage", "message"}.
FAILED_EVENT = "stage_failed"
#: Materialization metadata key naming the preview image inside the stage's output folder.
PREVIEW_FILE_KEY = "preview_file"
#: The held-out PSNR bars (dB) when the Dagster side sends none: broken below the first, weak below the second.
DEFAULT_MIN_PSNR = 12.0
DEFAULT_WARN_PSNR = 20.0

# The headline figures: each stage's own metric names first, then older or alternative spellings.
_HEADLINE_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "frames": {"frame_count": ("frame_count", "frames", "num_frames", "images")},
    "sparse_model": {
        "registered_images": ("registered_images", "num_registered_images", "registered", "num_reg_images"),
        "input_images": ("input_images", "num_input_images", "frame_count", "num_images", "frames"),
        "points3d": ("points3d", "num_points3d", "points", "num_points"),
    },
    "splat": {
        "psnr": ("psnr", "heldout_psnr", "held_out_psnr", "eval_psnr", "test_psnr", "val_psnr"),
        "num_gaussians": ("num_gaussians", "gaussians", "gaussian_count", "n_gaussians"),
        "steps": ("steps", "max_steps", "train_steps", "num_steps"),
    },
    "spz": {"num_gaussians": ("num_gaussians", "gaussians", "gaussian_count", "n_gaussians")},
}


def _first(metrics: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = metrics.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    return None


def headline(stage: str, output: Path, metrics: Mapping[str, Any]) -> dict[str, float | int]:
    """The few figures people look at, under fixed names, whatever the stage called them."""
    out: dict[str, float | int] = {}
    for name, aliases in _HEADLINE_ALIASES.get(stage, {}).items():
        value = _first(metrics, aliases)
        if value is not None:
            out[name] = value
    output = Path(output)
    if stage == "frames" and "frame_count" not in out and (output / IMAGES_DIR).is_dir():
        out["frame_count"] = sum(1 for p in (output / IMAGES_DIR).iterdir() if p.is_file())
    if stage == "sparse_model" and out.get("input_images") and "registered_images" in out:
        out["registered_ratio"] = round(out["registered_images"] / out["input_images"], 4)
    if stage == "spz":
        for suffix in ("spz", "ply"):
            files = sorted(output.glob(f"*.{suffix}"))
            if files:
                out[f"{suffix}_bytes"] = files[0].stat().st_size
    return out


def _typed(value: Any) -> Any:
    """A metric as Pipes metadata: scalars as they are, structures as JSON."""
    if value is None:
        return {"raw_value": None, "type": "null"}
    if isinstance(value, bool | int | float | str):
        return value
    return {"raw_value": json.loads(json.dumps(value, default=str)), "type": "json"}


def stage_metadata(stage: str, output: Path, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Materialization metadata (Pipes form): the headline figures, every metric, files, the preview's name
    in the output folder. Each value is small: a Pipes message is one line, and lines should stay short."""
    output = Path(output)
    metadata: dict[str, Any] = dict(headline(stage, output, metrics))
    metadata.update({name: _typed(value) for name, value in metrics.items() if name not in metadata})
    files = [p for p in output.rglob("*") if p.is_file()]
    metadata["output_files"] = len(files)
    metadata["output_bytes"] = sum(p.stat().st_size for p in files)
    if stage == "spz":
        metadata["files"] = _typed({p.name: p.stat().st_size for p in sorted(output.glob("*")) if p.is_file()})
    if (output / PREVIEW_PNG).is_file():
        # By reference: the Dagster side reads the file from storage. An image inlined here made one Pipes
        # message line of ~100 KB, the kind a reader tailing the file can be handed half of.
        metadata[PREVIEW_FILE_KEY] = PREVIEW_PNG
    return metadata


# -- quality checks ----------------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    stage: str
    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    hint: str = ""
    #: "ERROR" (a failure that blocks, when the check is blocking) or "WARN" (a weak result: recorded, delivered).
    severity: str = "ERROR"


def _registered_ratio(stage: str, output: Path, metrics: Mapping[str, Any], params: Mapping[str, Any]) -> CheckOutcome:
    minimum = float(params.get("min_ratio", 0.5))
    figures = headline(stage, output, metrics)
    registered, total = figures.get("registered_images"), figures.get("input_images")
    name = "registered_ratio"
    if registered is None or not total:
        return CheckOutcome(stage, name, False, "the SfM stage reported no registered/input image counts")
    ratio = registered / total
    meta = {"registered_images": registered, "input_images": total, "ratio": round(ratio, 4), "min_ratio": minimum}
    text = f"{registered} of {total} images registered ({ratio:.0%}; minimum {minimum:.0%})"
    return CheckOutcome(
        stage,
        name,
        ratio >= minimum,
        text,
        meta,
        hint="more overlap between views, sharper frames, or sfm.matchingMethod=exhaustive",
    )


def _heldout_psnr(stage: str, output: Path, metrics: Mapping[str, Any], params: Mapping[str, Any]) -> CheckOutcome:
    """Two bars: below `min_psnr` the splat is broken (ERROR, blocks delivery); below `warn_psnr` it is weak
    (WARN: delivered, and the UI and the record say it is weak). A CPU draft of a few hundred steps lands
    between them; a broken SfM or a diverged training lands under the first."""
    minimum = float(params.get("min_psnr", DEFAULT_MIN_PSNR))
    warning = max(minimum, float(params.get("warn_psnr", DEFAULT_WARN_PSNR)))
    psnr = headline(stage, output, metrics).get("psnr")
    label = "held-out PSNR"
    if metrics.get("appearance") and metrics.get("psnr_nerfw") is not None:
        # An appearance model (splatfacto-w-light) renders its neutral colours, not each held-out photo's
        # exposure: plain PSNR cannot judge it, the NeRF-W protocol's can (gs_stages/splat/appearance_eval.py).
        psnr, label = metrics["psnr_nerfw"], "held-out PSNR by the NeRF-W protocol"
    name = "heldout_psnr"
    meta: dict[str, Any] = {"min_psnr": minimum, "warn_psnr": warning}
    if metrics.get("training_enabled") is False or metrics.get("trained") is False:
        return CheckOutcome(stage, name, True, "training is off for this job: nothing to judge", meta)
    if psnr is None:
        return CheckOutcome(stage, name, False, "the splat stage reported no held-out PSNR", meta)
    meta = {"psnr": round(float(psnr), 3), **meta}
    if psnr < minimum:
        return CheckOutcome(
            stage,
            name,
            False,
            f"{label} {psnr:.2f} dB is under the {minimum:.2f} dB minimum: the splat is broken",
            meta,
            hint="check the SfM result (registered images) and the input frames, then train longer (training.maxSteps)",
        )
    if psnr < warning:
        return CheckOutcome(
            stage,
            name,
            False,
            f"{label} {psnr:.2f} dB: a weak result, delivered (warning bar {warning:.2f} dB, minimum {minimum:.2f} dB)",
            meta,
            hint="train longer (training.maxSteps) or at a higher resolution (image_downscale)",
            severity="WARN",
        )
    return CheckOutcome(stage, name, True, f"{label} {psnr:.2f} dB (warning bar {warning:.2f} dB)", meta)


def _spz_reads_back(stage: str, output: Path, metrics: Mapping[str, Any], params: Mapping[str, Any]) -> CheckOutcome:
    name = "spz_reads_back"
    if metrics.get("trained") is False:
        return _sparse_reads_back(stage, name, Path(output), metrics)
    files = sorted(Path(output).glob("*.spz"))
    if not files:
        return CheckOutcome(stage, name, False, f"no .spz file in {output}")
    try:
        from gs_stages.export.spz import read_spz
    except ImportError as exc:
        return CheckOutcome(stage, name, False, f"no .spz reader in this build: {exc}")
    try:
        gaussians = read_spz(files[0])
    except Exception as exc:  # any decoding failure is the finding
        return CheckOutcome(stage, name, False, f"{files[0].name} does not read back: {exc}", {"file": files[0].name})
    count = len(gaussians)
    expected = headline(stage, output, metrics).get("num_gaussians")
    meta = {"file": files[0].name, "bytes": files[0].stat().st_size, "num_gaussians": count}
    if expected is not None and int(expected) != count:
        meta["expected_gaussians"] = int(expected)
        return CheckOutcome(stage, name, False, f"{files[0].name} holds {count} Gaussians, expected {expected}", meta)
    if count == 0:
        return CheckOutcome(stage, name, False, f"{files[0].name} holds no Gaussians", meta)
    return CheckOutcome(stage, name, True, f"{files[0].name} reads back: {count} Gaussians", meta)


def _sparse_reads_back(stage: str, name: str, output: Path, metrics: Mapping[str, Any]) -> CheckOutcome:
    """Training off: what is delivered is the COLMAP model and its points .ply; both must read back."""
    from gs_stages.export.sparse import read_points_ply

    missing = [f for f in ("cameras.bin", "images.bin", "points3D.bin") if not (output / "sparse/0" / f).is_file()]
    files = sorted(output.glob("*_points.ply"))
    if missing or not files:
        return CheckOutcome(stage, name, False, f"training is off and the sparse model is incomplete in {output}")
    try:
        count = read_points_ply(files[0])
    except Exception as exc:  # any decoding failure is the finding
        return CheckOutcome(stage, name, False, f"{files[0].name} does not read back: {exc}", {"file": files[0].name})
    expected = metrics.get("points3d")
    meta = {"file": files[0].name, "points": count, "trained": False}
    if expected is not None and int(expected) != count:
        return CheckOutcome(stage, name, False, f"{files[0].name} holds {count} points, expected {expected}", meta)
    return CheckOutcome(stage, name, True, f"training is off: {files[0].name} reads back ({count} points)", meta)


CHECKS = {
    ("sparse_model", "registered_ratio"): _registered_ratio,
    ("splat", "heldout_psnr"): _heldout_psnr,
    ("spz", "spz_reads_back"): _spz_reads_back,
}


def evaluate_check(
    stage: str, name: str, output: Path, metrics: Mapping[str, Any], params: Mapping[str, Any] | None = None
) -> CheckOutcome:
    try:
        function = CHECKS[(stage, name)]
    except KeyError:
        raise ValueError(f"no check {name!r} on {stage!r}; checks are {sorted(CHECKS)}") from None
    return function(stage, Path(output), metrics, params or {})


def _stage_error(message: str, hint: str | None = None) -> Exception:
    from gs_stages.stage import StageError

    return StageError(message, hint=hint or None)


# -- reporters ---------------------------------------------------------------------------------------


class Reporter:
    #: Seconds between two progress updates of one phase (the Dagster side may choose another).
    progress_interval_s: float = DEFAULT_INTERVAL_S

    def progress(self, update: ProgressUpdate) -> None:
        log.info("progress %s", update.text())

    def stage_done(self, stage: str, output: Path, metrics: dict[str, Any]) -> None:
        log.info("metrics %s: %s", stage, metrics)

    def stage_failed(self, stage: str, message: str) -> None:
        log.error("stage %s failed: %s", stage, message)

    def close(self) -> None:
        pass


class PipesReporter(Reporter):
    """Reports to the Dagster process that launched us (dagster-pipes is the only dependency)."""

    def __init__(self) -> None:
        from dagster_pipes import open_dagster_pipes

        self._manager = open_dagster_pipes()
        self.pipes = self._manager.__enter__()
        self.done: list[str] = []
        self.gate_stage: str | None = None  # the stage whose blocking check stopped the chain
        interval = self.pipes.extras.get(INTERVAL_EXTRA)
        if isinstance(interval, int | float) and not isinstance(interval, bool) and interval >= 0:
            self.progress_interval_s = float(interval)

    def progress(self, update: ProgressUpdate) -> None:
        super().progress(update)
        # A custom message, not a Pipes log line: the Dagster side logs the text and records an observation
        # that `gs-dagster status` reads back.
        self.pipes.report_custom_message(update.to_message())

    @property
    def selected(self) -> list[str]:
        return list(self.pipes.asset_keys) if self.pipes.is_asset_step else []

    def _checks(self, stage: str) -> list[dict[str, Any]]:
        checks = self.pipes.extras.get(CHECKS_EXTRA) or []
        return [c for c in checks if c.get("stage") == stage]

    def stage_done(self, stage: str, output: Path, metrics: dict[str, Any]) -> None:
        super().stage_done(stage, output, metrics)
        selected = self.selected
        if selected and stage not in selected:
            return
        self.pipes.report_asset_materialization(
            asset_key=stage if selected else None, metadata=stage_metadata(stage, output, metrics)
        )
        self.done.append(stage)
        failed: list[CheckOutcome] = []
        for check in self._checks(stage):
            outcome = evaluate_check(stage, check["name"], output, metrics, check.get("params"))
            blocking = bool(check.get("blocking", True)) and outcome.severity == "ERROR"
            self.pipes.report_asset_check(
                check_name=outcome.name,
                passed=outcome.passed,
                severity="ERROR" if blocking else "WARN",
                metadata={"description": outcome.description, **outcome.metadata},
                asset_key=stage,
            )
            log.log(
                logging.INFO if outcome.passed else logging.WARNING, "check %s: %s", outcome.name, outcome.description
            )
            if blocking and not outcome.passed:
                failed.append(outcome)
        if failed:
            # Stop the chain here: the next stage must not consume this result.
            text = "; ".join(f"{o.stage} {o.name}: {o.description}" for o in failed)
            hints = "; ".join(o.hint for o in failed if o.hint)
            self.gate_stage = stage
            raise _stage_error(f"quality check failed: {text}", hints)

    def _failed_stage(self, stage: str) -> str:
        if stage != "chain":
            return stage
        if self.gate_stage:
            return self.gate_stage
        remaining = [s for s in self.selected if s not in self.done]
        return remaining[0] if remaining else stage

    def stage_failed(self, stage: str, message: str) -> None:
        stage = self._failed_stage(stage)
        super().stage_failed(stage, message)
        self.pipes.log.error(f"stage {stage} failed: {message}")
        self.pipes.report_custom_message({"event": FAILED_EVENT, "stage": stage, "message": message})

    def close(self) -> None:
        self._manager.__exit__(None, None, None)


_reporter: Reporter | None = None


def _under_pipes() -> bool:
    """Whether a Dagster process launched us with a Pipes context (the bootstrap environment variable)."""
    try:
        from dagster_pipes import PipesEnvVarParamsLoader
    except ImportError:  # the orchestrator-less install: only logs
        return False
    return PipesEnvVarParamsLoader().is_dagster_pipes_process()


def reporter() -> Reporter:
    global _reporter
    if _reporter is None:
        _reporter = PipesReporter() if _under_pipes() else Reporter()
    return _reporter


def close_reporter() -> None:
    global _reporter
    if _reporter is not None:
        _reporter.close()
        _reporter = None
