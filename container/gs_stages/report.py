"""Where a stage's metrics go besides `metrics.json`: Dagster, when the process runs under Pipes.

Outside Pipes (tests, a user's shell) the reporter only logs. Under Pipes each finished stage is
reported as a materialization of the asset with the stage's name, so one launch that runs several
stages materializes each of them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("gs_stages")


class Reporter:
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

    def stage_done(self, stage: str, output: Path, metrics: dict[str, Any]) -> None:
        super().stage_done(stage, output, metrics)
        selected = set(self.pipes.asset_keys) if self.pipes.is_asset_step else set()
        if stage in selected or not selected:
            metadata = {k: v for k, v in metrics.items() if isinstance(v, int | float | str | bool)}
            self.pipes.report_asset_materialization(asset_key=stage if selected else None, metadata=metadata)

    def stage_failed(self, stage: str, message: str) -> None:
        super().stage_failed(stage, message)
        self.pipes.log.error(message)

    def close(self) -> None:
        self._manager.__exit__(None, None, None)


_reporter: Reporter | None = None


def reporter() -> Reporter:
    global _reporter
    if _reporter is None:
        try:
            from dagster_pipes import is_dagster_pipes_process
        except ImportError:
            is_dagster_pipes_process = None  # type: ignore[assignment]
        _reporter = PipesReporter() if is_dagster_pipes_process and is_dagster_pipes_process() else Reporter()
    return _reporter


def close_reporter() -> None:
    global _reporter
    if _reporter is not None:
        _reporter.close()
        _reporter = None
