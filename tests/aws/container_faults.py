"""The container entrypoint with one injected fault (GS_TEST_FAULT), for the SageMaker harness.

sigterm-after-publish:<stage>  SIGTERM right after the stage's outputs reached S3, before its
                               report was sent (a spot interruption at the worst moment)
sigterm-after-report:<stage>   SIGTERM right after the stage's report was flushed to S3
hang:<stage>                   sleep before running the stage (until SIGTERM)
drop-report:<stage>            the stage's report (materialization and checks) never reaches Dagster
"""

from __future__ import annotations

import os
import signal
import sys
import time

import gs_stages.cli as cli
from gs_stages import sagemaker_entry as entry
from gs_stages.stage import STAGES, StageDef


def fake_splat(ctx):
    checkpoints = ctx.output / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    state = checkpoints / "step.txt"
    resumed_from = int(state.read_text()) if state.exists() else 0
    state.write_text(str(resumed_from + 1))
    (ctx.output / "splat.ply").write_text("ply\n")
    if resumed_from == 0:
        os.kill(os.getpid(), signal.SIGTERM)  # spot interruption after the first checkpoint
        time.sleep(5)
    return {"resumed_from": resumed_from, "checkpoint_dir_is_link": checkpoints.is_symlink()}


def _sigterm_after(owner: type, method: str, stage: str) -> None:
    original = getattr(owner, method)

    def wrapped(self, name, *args, **kwargs):
        result = original(self, name, *args, **kwargs)
        if name == stage:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises Terminated here
        return result

    setattr(owner, method, wrapped)


def install(faults: str) -> None:
    for fault in filter(None, faults.split(",")):
        install_one(fault)


def install_one(fault: str) -> None:
    kind, _, stage = fault.partition(":")
    if kind == "fake-splat":
        definition = STAGES["splat"]
        STAGES["splat"] = StageDef(
            "splat", definition.inputs, "container_faults:fake_splat", definition.optional_inputs
        )
    elif kind == "sigterm-after-publish":
        _sigterm_after(entry.Publisher, "publish", stage)
    elif kind == "sigterm-after-report":
        _sigterm_after(entry.PublishingReporter, "report", stage)
    elif kind == "drop-report":
        report = entry.PublishingReporter.report

        def lossy(self, name, output, metrics):
            if name != stage:
                return report(self, name, output, metrics)
            print(f"fault: the report of {stage} is lost", flush=True)

        entry.PublishingReporter.report = lossy
    elif kind == "hang":
        original = cli.run_chain

        def hanging(stages, *args, **kwargs):
            if stage in stages:
                print(f"fault: hanging before {stage}", flush=True)
                time.sleep(120)
            return original(stages, *args, **kwargs)

        cli.run_chain = hanging
    else:
        raise SystemExit(f"unknown GS_TEST_FAULT {fault!r}")


if __name__ == "__main__":
    install(os.environ.get("GS_TEST_FAULT", ""))
    raise SystemExit(entry.main(sys.argv[1:]))
