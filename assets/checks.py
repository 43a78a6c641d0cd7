"""Quality checks of a reconstruction, and their thresholds.

| check | asset | passes when |
|---|---|---|
| registered_ratio | sparse_model | registered images / input frames >= min_registered_ratio |
| heldout_psnr | splat | PSNR on held-out frames >= min_psnr_db (ERROR below it); >= warn_psnr_db (WARN below) |
| spz_reads_back | spz | the .spz decodes with the splat's Gaussian count |

All three are blocking: a check that fails with severity ERROR stops the run before the result flows
downstream. The PSNR check has two bars: under `min_psnr_db` the splat is broken (ERROR, nothing
delivered); under `warn_psnr_db` it is weak but usable, e.g. a CPU draft of a few hundred steps (WARN:
delivered, and the check reads as a warning in the UI). Because one
launch runs several stages, the check is judged inside the stage process right after its stage
(`gs_stages.quality_checks`), which stops the chain; Dagster records the result on the asset. A check selected
on its own (e.g. after changing a threshold) is judged here from the stored output.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from gs_dagster.assets.sparse_model import REGISTERED_RATIO, registered_ratio_check
from gs_dagster.assets.splat import HELDOUT_PSNR, heldout_psnr_check
from gs_dagster.assets.spz import SPZ_READS_BACK, spz_reads_back_check
from gs_dagster.resources.storage import Store
from gs_stages.layout import METRICS_JSON
from gs_stages.quality_checks import (
    DEFAULT_MIN_PSNR,
    DEFAULT_MIN_REGISTERED_RATIO,
    DEFAULT_WARN_PSNR,
    CheckOutcome,
    evaluate_check,
)

CHECK_SPECS = [registered_ratio_check, heldout_psnr_check, spz_reads_back_check]


@dataclass(frozen=True)
class CheckRequest:
    stage: str
    name: str
    blocking: bool
    params: dict[str, Any]

    @property
    def key(self) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(dg.AssetKey(self.stage), self.name)

    def to_extra(self) -> dict[str, Any]:
        return {"stage": self.stage, "name": self.name, "blocking": self.blocking, "params": self.params}


class QualityChecksResource(dg.ConfigurableResource):
    """Thresholds of the quality checks (GS_MIN_REGISTERED_RATIO, GS_MIN_PSNR_DB, GS_WARN_PSNR_DB)."""

    min_registered_ratio: float = Field(
        default=DEFAULT_MIN_REGISTERED_RATIO, description="share of frames SfM must register"
    )
    min_psnr_db: float = Field(
        default=DEFAULT_MIN_PSNR, description="held-out PSNR (dB) under which the splat is broken: ERROR, not delivered"
    )
    warn_psnr_db: float = Field(
        default=DEFAULT_WARN_PSNR, description="held-out PSNR (dB) under which the splat is weak: WARN, delivered"
    )
    blocking: bool = Field(default=True, description="a failed check stops the run (ERROR) or only warns")

    def requests(self, selected: Iterable[dg.AssetCheckKey] | None = None) -> list[CheckRequest]:
        every = [
            CheckRequest("sparse_model", REGISTERED_RATIO, self.blocking, {"min_ratio": self.min_registered_ratio}),
            CheckRequest(
                "splat", HELDOUT_PSNR, self.blocking, {"min_psnr": self.min_psnr_db, "warn_psnr": self.warn_psnr_db}
            ),
            CheckRequest("spz", SPZ_READS_BACK, self.blocking, {}),
        ]
        if selected is None:
            return every
        wanted = set(selected)
        return [r for r in every if r.key in wanted]


def evaluate_stored(request: CheckRequest, storage: Store, uuid: str) -> dg.AssetCheckResult:
    """Judge a stage's stored output (metrics.json, and the .spz for the read-back)."""
    prefix = f"{request.stage}/{uuid}"
    with tempfile.TemporaryDirectory(prefix="gs-check-") as tmp:
        if storage.is_local:
            output = storage.local_path(prefix)
        else:
            output = Path(tmp)
            for obj in storage.iter_objects(prefix + "/", children_only=True):
                name = obj.key.rsplit("/", 1)[-1]
                if name == METRICS_JSON or name.endswith(".spz"):
                    storage.download_file(obj.key, output / name)
        metrics_path = output / METRICS_JSON
        if metrics_path.is_file():
            metrics = json.loads(metrics_path.read_text())
            outcome = evaluate_check(request.stage, request.name, output, metrics, request.params)
        else:
            outcome = CheckOutcome(request.stage, request.name, False, f"no stored output at {storage.uri_of(prefix)}")
    return dg.AssetCheckResult(
        asset_key=request.stage,
        check_name=request.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR
        if request.blocking and outcome.severity == "ERROR"
        else dg.AssetCheckSeverity.WARN,
        metadata={"description": outcome.description, **outcome.metadata},
    )
