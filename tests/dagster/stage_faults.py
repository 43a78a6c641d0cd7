"""The stage CLI with one injected fault (GS_TEST_STAGE_FAULT), run by the local launcher in its place.

    drop-reports:<stage>   the stage runs and finishes, but its Pipes messages (materialization and
                           check results) are lost on the way, as when the message reader drops lines
    kill-in:<stage>        the stage writes part of its output, then its process gets SIGKILL
    hang-in:<stage>        the stage writes part of its output, then sleeps (until the run is canceled)
    torn-line-after:<stage>  once the stage has reported, half a message line lands in the Pipes message
                           file (a reader handed a half-written line), and the process exits 1 at the end

`python_wrapper(tmp_path)` writes the executable that the launcher's `python` field points at.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

FAULT_ENV = "GS_TEST_STAGE_FAULT"


def python_wrapper(folder: Path) -> str:
    """An executable taking the launcher's `-m gs_stages ...` arguments, running this module instead."""
    path = Path(folder) / "faulty-python"
    path.write_text(f'#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} "$@"\n')
    path.chmod(0o755)
    return str(path)


def _partial_then(action: str) -> Any:
    def run(ctx: Any) -> dict[str, Any]:
        ctx.output.mkdir(parents=True, exist_ok=True)
        (ctx.output / "splat.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\n")  # cut short
        print(f"fault: {action} in {ctx.stage}", flush=True)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(300)
        return {}

    return run


killed_midway = _partial_then("kill")
hanging_midway = _partial_then("hang")


def _drop_reports(stage: str) -> None:
    from gs_stages import reporter as reporting

    original = reporting.PipesReporter.stage_done

    def stage_done(self: Any, name: str, output: Path, metrics: dict[str, Any]) -> None:
        if name != stage:
            return original(self, name, output, metrics)
        pipes = self.pipes
        saved = pipes.report_asset_materialization, pipes.report_asset_check
        pipes.report_asset_materialization = pipes.report_asset_check = lambda *a, **k: None  # lost lines
        try:
            return original(self, name, output, metrics)
        finally:
            pipes.report_asset_materialization, pipes.report_asset_check = saved

    reporting.PipesReporter.stage_done = stage_done


def _torn_line_after(stage: str) -> None:
    from dagster_pipes import PipesEnvVarParamsLoader

    from gs_stages import cli
    from gs_stages import reporter as reporting

    original = reporting.PipesReporter.stage_done

    def stage_done(self: Any, name: str, output: Path, metrics: dict[str, Any]) -> None:
        original(self, name, output, metrics)
        if name == stage:
            path = PipesEnvVarParamsLoader().load_messages_params()["path"]
            with open(path, "a") as messages:
                messages.write('{"__dagster_pipes_version": "0.1", "method": "report_asset_mat')
                messages.flush()

    reporting.PipesReporter.stage_done = stage_done
    main = cli.main
    cli.main = lambda argv=None: main(argv) or 1


def install(fault: str) -> None:
    from gs_stages.stage import STAGES, StageDef

    kind, _, stage = fault.partition(":")
    if kind == "drop-reports":
        _drop_reports(stage)
    elif kind == "torn-line-after":
        _torn_line_after(stage)
    elif kind in ("kill-in", "hang-in"):
        old = STAGES[stage]
        function = "killed_midway" if kind == "kill-in" else "hanging_midway"
        STAGES[stage] = StageDef(stage, old.inputs, f"stage_faults:{function}", old.optional_inputs)
    elif fault:
        raise SystemExit(f"unknown {FAULT_ENV} {fault!r}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:2] != ["-m", "gs_stages"]:
        raise SystemExit(f"expected -m gs_stages ..., got {args[:2]}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.modules.setdefault("stage_faults", sys.modules["__main__"])
    install(os.environ.get(FAULT_ENV, ""))
    from gs_stages import cli

    raise SystemExit(cli.main(args[2:]))
