"""The local launcher's Pipes client: the stage process's results and progress as they arrive."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from subprocess import PIPE, Popen
from typing import Any

import dagster as dg
from dagster import DagsterExecutionInterruptedError, PipesExecutionResult

from gs_dagster.resources.launcher import StageFailure
from gs_dagster.resources.pipes_file_reader import TolerantFileMessageReader
from gs_dagster.resources.progress_relay import ProgressRelay
from gs_stages.report import FAILED_EVENT


class StreamingPipesSubprocessClient(dg.PipesSubprocessClient):
    """`PipesSubprocessClient` that yields each result as the process reports it, and its progress as
    `AssetObservation`s (resources/progress_relay.py); reads messages with `TolerantFileMessageReader` (a
    torn or garbled line is skipped, not the end of reading); on failure raises with the message the stage
    reported (instead of only the exit code), after yielding the results of the stages that finished."""

    def stream(
        self,
        *,
        context: dg.AssetExecutionContext,
        command: Sequence[str],
        extras: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        poll_s: float = 0.5,
        stages: Sequence[str] = (),
    ) -> Iterator[PipesExecutionResult | dg.AssetObservation]:
        """`stages`: what the process runs, in order; names the failed stage when the process dies
        without saying (a crash rather than a reported StageError)."""
        yielded = 0
        done: set[str] = set()
        relay = ProgressRelay(context)

        def fresh(session: Any) -> Iterator[PipesExecutionResult | dg.AssetObservation]:
            nonlocal yielded
            yield from relay.fresh(session)
            reported = list(session.get_reported_results())
            new, yielded = reported[yielded:], len(reported)
            yield from new

        reader = TolerantFileMessageReader(warn=context.log.warning)
        with dg.open_pipes_session(
            context=context,
            context_injector=self.context_injector,
            message_reader=reader,
            extras=dict(extras or {}),
        ) as session:
            process = Popen(
                list(command),
                cwd=self.cwd,
                env={**os.environ, **self.env, **(env or {}), **session.get_bootstrap_env_vars()},
                stdout=None if self.forward_stdio else PIPE,
                stderr=None if self.forward_stdio else PIPE,
            )
            try:
                while process.poll() is None:
                    yield from fresh(session)
                    time.sleep(poll_s)
            except (DagsterExecutionInterruptedError, KeyboardInterrupt, GeneratorExit):
                if self.forward_termination and process.poll() is None:
                    context.log.info("[pipes] execution interrupted, sending SIGINT to the stage process")
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(timeout=self.termination_timeout_seconds)
                    except Exception:
                        process.kill()
                raise
        # The session is closed: every message the process wrote has been read.
        yield from fresh(session)
        done.update(r.asset_key.to_user_string() for r in session.get_reported_results() if r.asset_key)
        if process.returncode != 0:
            failures = [
                m for m in session.get_custom_messages() if isinstance(m, dict) and m.get("event") == FAILED_EVENT
            ]
            if failures:
                raise StageFailure(failures[-1].get("stage", "?"), failures[-1].get("message", ""))
            unfinished = [s for s in stages if s not in done]
            raise StageFailure(
                unfinished[0] if unfinished else "?",
                f"the stage process exited with code {process.returncode} (see the step's stdout/stderr)",
            )
