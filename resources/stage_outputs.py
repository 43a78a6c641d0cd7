"""Keep each stage's last good output until a new one is complete: what Dagster sees of a launch's stages.
(Staging roots and the promotion itself, on a local folder or any store: resources/stage_promotion.py.)

A launch never writes `<root>/<stage>/<uuid>/` directly. Its stages write into a staging root (a hidden
folder beside the outputs, a temp folder, or the S3 prefix `<root>/.staging/<launch>/`), and each stage
is judged from storage, not from messages: a stage output that holds the completion marker its stage
writes last (`gs_stages.layout.COMPLETE_MARKER`, after its in-process blocking checks passed) replaces
the stored one; any other (a failed check, a crash, a kill, a cancel) is dropped and the previous output
stays byte for byte. Locally a stage is judged as soon as it has finished and reported, while the later
stages go on (`LaunchSettler`); on SageMaker once the training job has ended. Only after the promotion
does Dagster hear of it:

- complete: the stage's reported materialization (or, when its report was lost, one rebuilt from the
  stored metrics) and its check results;
- reported but not complete (a blocking check failed): an `AssetObservation` of the failed attempt
  with its metrics and the failed checks, never a materialization, so the latest materialization
  stays the output that is in storage. Its check results are not emitted either: Dagster attaches a
  check result to the latest materialization, which is the kept, older one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from gs_dagster.resources.stage_promotion import (  # noqa: F401 (re-exported: where outputs are staged)
    STAGING,
    linked_copy,
    local_staging,
    promote_local,
    promote_prefix,
    recover_local,
    staging_prefix,
    stored_marker,
)
from gs_dagster.resources.storage import Store
from gs_stages.layout import METRICS_JSON, is_complete
from gs_stages.report import headline, stage_metadata


# -- what Dagster is told ----------------------------------------------------------------------------------
@dataclass
class Settled:
    """The stages of one launch after judging storage: `kept` replaced the stored output, `events` what to
    yield (in stage order), `refused` the stages whose new output was dropped (with why)."""

    kept: list[str] = field(default_factory=list)
    kept_where: dict[str, str] = field(default_factory=dict)  # where each stage's previous output is
    refused: dict[str, str] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)


def _dagster_value(value: Any) -> Any:
    """A Pipes-typed metadata value ({"raw_value", "type"}) as Dagster metadata."""
    if isinstance(value, dict) and "type" in value and "raw_value" in value:
        raw, kind = value["raw_value"], value["type"]
        if kind == "json":
            return dg.MetadataValue.json(raw)
        if kind == "md":
            return dg.MetadataValue.md(raw)
        if kind == "null" or raw is None:
            return dg.MetadataValue.null()
        return raw
    return value


def rebuilt_materialization(stage: str, metrics: Mapping[str, Any], output: Path | None) -> dg.MaterializeResult:
    """The materialization of a stage whose output is complete in storage but whose report never arrived."""
    if output is not None:
        metadata = {name: _dagster_value(value) for name, value in stage_metadata(stage, output, metrics).items()}
    else:  # the output is in S3 only: the metrics and the headline figures they hold
        metadata = {
            name: value if isinstance(value, bool | int | float | str) else dg.MetadataValue.json(value)
            for name, value in sorted(metrics.items())
            if value is not None
        }
        metadata.update(headline(stage, Path(os.devnull), metrics))
    metadata["reported_from"] = "storage: the stage finished but its report did not reach Dagster"
    return dg.MaterializeResult(asset_key=stage, metadata=metadata)


def settle_stage(
    settled: Settled,
    stage: str,
    results: Sequence[Any],
    complete: tuple[Mapping[str, Any], Path | None] | None,
    *,
    partition: str | None,
) -> list[Any]:
    """Dagster's events for one stage of a launch, recorded in `settled`: `complete` is the stored metrics
    (and a local copy of the output, for rebuilding a lost report) of a stage that was promoted, else None."""
    mine = [r for r in results if r.asset_key is not None and r.asset_key.to_user_string() == stage]
    materializations = [r for r in mine if isinstance(r, dg.MaterializeResult)]
    checks = [r for r in mine if isinstance(r, dg.AssetCheckResult)]
    if complete is not None:
        metrics, output = complete
        settled.kept.append(stage)
        first = materializations[0] if materializations else rebuilt_materialization(stage, metrics, output)
        events = [first, *checks]
    elif not materializations:
        events = []
    else:
        failed = [c for c in checks if not c.passed]
        why = (
            "; ".join(f"{c.check_name}: {_scalar((c.metadata or {}).get('description', 'failed'))}" for c in failed)
            or "the stage did not finish"
        )
        settled.refused[stage] = why
        metadata = dict(materializations[0].metadata or {})
        metadata.update(
            {
                "attempt": "failed, not kept: " + why,
                "kept_output": settled.kept_where.get(stage, "none (no earlier good output)"),
                "failed_checks": dg.MetadataValue.json(
                    {c.check_name: _scalar((c.metadata or {}).get("description", "")) for c in failed}
                ),
            }
        )
        events = [dg.AssetObservation(asset_key=stage, partition=partition, metadata=metadata)]
    settled.events.extend(events)
    return events


def settle_results(
    stages: Sequence[str],
    results: Sequence[Any],
    complete: Mapping[str, tuple[Mapping[str, Any], Path | None]],
    *,
    partition: str | None,
    kept_where: Mapping[str, str],
) -> Settled:
    """Dagster's events for a launch whose complete stages are already promoted (`complete`); `kept_where`
    says where the previous output of each stage is (for the failed attempt's record)."""
    settled = Settled(kept_where=dict(kept_where))
    for stage in stages:
        settle_stage(settled, stage, results, complete.get(stage), partition=partition)
    return settled


def _scalar(value: Any) -> Any:
    return getattr(value, "value", value)


def read_metrics(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _stored(store: Store, stage: str, uuid: str) -> bool:
    if store.is_local:
        return store.local_path(f"{stage}/{uuid}").is_dir()
    return store.head(f"{stage}/{uuid}/{METRICS_JSON}") is not None


class LaunchSettler:
    """The local launcher's judge, one stage at a time and as soon as a stage has finished: a stage whose
    staged output holds its completion marker, and whose report and check results have arrived, replaces
    the stored output while the chain goes on (so the UI shows each stage as it finishes, not at the end of
    the launch); `finish()`, once the process has ended, judges the stages not settled yet. A stage is put
    in place before Dagster hears of it, so a Dagster process killed meanwhile leaves at most one stage newer
    in storage than in Dagster."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        store: Store,
        staging: Path,
        stages: Sequence[str],
        uuid: str,
        expected_checks: Mapping[str, int],
    ) -> None:
        self.context, self.store, self.staging, self.uuid = context, store, staging, uuid
        self.pending = list(stages)
        self.expected_checks = dict(expected_checks)
        self.results: list[Any] = []
        self.settled = Settled(kept_where={s: store.uri_of(f"{s}/{uuid}") for s in stages if _stored(store, s, uuid)})
        self.partition = context.partition_key if context.has_partition_key else None
        self.finished = True  # every stage so far was complete (a later stage read the earlier ones)

    def add(self, result: Any) -> None:
        self.results.append(result)

    def _reported(self, stage: str) -> bool:
        mine = [r for r in self.results if r.asset_key is not None and r.asset_key.to_user_string() == stage]
        checks = sum(isinstance(r, dg.AssetCheckResult) for r in mine)
        return any(isinstance(r, dg.MaterializeResult) for r in mine) and checks >= self.expected_checks.get(stage, 0)

    def ready(self) -> Iterator[Any]:
        """Settle the stages that have finished while the process still runs (their output is copied into
        place by hard links: the chain's later stages go on reading the staged folder)."""
        while self.pending and self.finished:
            stage = self.pending[0]
            staged = self.staging / stage / self.uuid
            if not (is_complete(staged) and self._reported(stage)):
                return
            yield from self._settle(stage, live=True)

    def finish(self) -> Iterator[Any]:
        """After the process has ended: every stage not settled yet, from what storage holds."""
        while self.pending:
            yield from self._settle(self.pending[0], live=False)
        return self.settled

    def _settle(self, stage: str, *, live: bool) -> Iterator[Any]:
        self.pending.pop(0)
        staged = self.staging / stage / self.uuid
        self.finished = self.finished and is_complete(staged)
        complete = None
        if self.finished:
            metrics = read_metrics(staged / METRICS_JSON)
            complete = (metrics, _promote(self.context, self.store, staged, stage, self.uuid, copy=live))
        yield from settle_stage(self.settled, stage, self.results, complete, partition=self.partition)
        if stage in self.settled.refused:
            kept = self.settled.kept_where.get(stage)
            self.context.log.warning(
                f"stage {stage}: the new output is not kept ({self.settled.refused[stage]}); "
                + (f"the last good output stays at {kept}" if kept else "there is no earlier output")
            )


def _promote(
    context: dg.AssetExecutionContext, store: Store, staged: Path, stage: str, uuid: str, *, copy: bool = False
) -> Path:
    """Put a complete staged output in place of the stored one; `copy`: the chain still reads `staged`."""
    if store.is_local:
        return promote_local(linked_copy(staged) if copy else staged, store.local_path(""), stage, uuid)
    launch = staging_prefix(f"{uuid}-{context.run.run_id[:8]}-{os.getpid()}")
    store.upload_dir(staged, f"{launch}/{stage}/{uuid}")
    count = promote_prefix(store, f"{launch}/{stage}/{uuid}", f"{stage}/{uuid}")
    store.delete_prefix(launch)
    context.log.info(f"stored {count} file(s) of {stage}/{uuid} in {store.uri}")
    return staged
