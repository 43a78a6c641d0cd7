"""Where a stage's metrics go besides `metrics.json`: Dagster, when the process runs under Pipes.

Outside Pipes (tests, a user's shell) the reporter only logs. Under Pipes each finished stage is reported as
a materialization of the asset with the stage's name (gs_stages/report.py says what it carries), followed by
the quality checks the Dagster side selected (gs_stages/quality_checks.py); a blocking one that fails stops
the chain.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gs_stages.progress import DEFAULT_INTERVAL_S, INTERVAL_EXTRA, ProgressUpdate
from gs_stages.quality_checks import CheckOutcome, evaluate_check
from gs_stages.report import CHECKS_EXTRA, FAILED_EVENT, stage_metadata

log = logging.getLogger("gs_stages")


def _stage_error(message: str, hint: str | None = None) -> Exception:
    from gs_stages.stage import StageError

    return StageError(message, hint=hint or None)


class Reporter:
    #: Seconds between two progress updates of one phase (the Dagster side may choose another).
    progress_interval_s: float = DEFAULT_INTERVAL_S

    def progress(self, update: ProgressUpdate) -> None:
        log.info("progress %s", update.text())

    def stage_done(self, stage: str, output: Path, metrics: dict[str, Any]) -> None:
        log.info("metrics %s: %s", stage, metrics)

    def stage_failed(self, stage: str, message: str) -> None:
        log.error("stage %s failed: %s", stage, message)

    def requested_checks(self, stage: str) -> list[str]:
        """The checks the Dagster side asked for on `stage` (none outside Pipes)."""
        return []

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

    def requested_checks(self, stage: str) -> list[str]:
        return [str(c.get("name")) for c in self._checks(stage)]

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
