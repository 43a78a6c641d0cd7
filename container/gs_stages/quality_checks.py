"""The one place that judges the quality of stage outputs: the checks' rules, bars and words.

Every judgement goes through here: the checks judged in the stage process right after the stage
(gs_stages/reporter.py; a blocking one that fails stops the chain before a bad result reaches the next
stage), the same checks judged from stored outputs when Dagster runs one alone (assets/checks.py), the
SfM stage's own registration bar (`registration_bar`, `judge_registration`: sfm/metrics.py), and the
check specs' descriptions (`CHECK_DESCRIPTIONS`). A weak result's notice repeats the check's own words
(gs_dagster/sensors/run_outcome.py `quality_warnings`): nothing else judges.
The Dagster side names the checks to run, with their thresholds, in the Pipes extras (`gs_checks`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gs_stages.report import headline

#: The held-out PSNR bars (dB) when the Dagster side sends none: broken below the first, weak below the second.
DEFAULT_MIN_PSNR = 12.0
DEFAULT_WARN_PSNR = 20.0
#: The share of the input frames SfM must register when the Dagster side sends no bar, and the floor: a
#: model of fewer posed images cannot train a splat.
DEFAULT_MIN_REGISTERED_RATIO = 0.5
MIN_REGISTERED_IMAGES = 3
REGISTERED_RATIO, HELDOUT_PSNR, SPZ_READS_BACK = "registered_ratio", "heldout_psnr", "spz_reads_back"
#: What each check says in the Dagster UI (the check specs in assets/*.py).
CHECK_DESCRIPTIONS = {
    REGISTERED_RATIO: (
        f"Registered images are at least {MIN_REGISTERED_IMAGES} and at least the minimum share of the input "
        f"frames: resource quality.min_registered_ratio, from GS_MIN_REGISTERED_RATIO (default "
        f"{DEFAULT_MIN_REGISTERED_RATIO})."
    ),
    HELDOUT_PSNR: (
        f"PSNR on held-out frames: under quality.min_psnr_db (GS_MIN_PSNR_DB, default {DEFAULT_MIN_PSNR:g} dB) the "
        f"splat is broken (ERROR, not delivered); under quality.warn_psnr_db (GS_WARN_PSNR_DB, default "
        f"{DEFAULT_WARN_PSNR:g} dB) it is weak (WARN, delivered)."
    ),
    SPZ_READS_BACK: (
        "The .spz decodes and holds as many Gaussians as the splat (gs_stages.export.spz.read_spz); with training "
        "off the sparse model reads back, for nerfacto the .glb mesh."
    ),
}
REGISTRATION_HINT = (
    "capture with more overlap between neighbouring views (about 60-80%), avoid blurry frames and moving "
    "objects, or try another matching method: sfm.matchingMethod exhaustive for photos, sequential for video; "
    "sfm.softwareName colmap (incremental) often registers more than glomap"
)


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


def registration_bar(requested: Collection[str]) -> float:
    """The share of the input the SfM stage itself demands. When the Dagster side asked for the
    registered_ratio check, that check decides (its threshold, blocking or a warning): the stage holds only
    the floor of MIN_REGISTERED_IMAGES. Outside Dagster (no check asked for) the stage holds the default."""
    return 0.0 if REGISTERED_RATIO in requested else DEFAULT_MIN_REGISTERED_RATIO


def judge_registration(stage: str, registered: int, total: int, min_ratio: float) -> CheckOutcome:
    """Enough images got a pose: at least MIN_REGISTERED_IMAGES and `min_ratio` of the `total` input frames."""
    needed = max(MIN_REGISTERED_IMAGES, math.ceil(min_ratio * total))
    ratio = registered / total if total else 0.0
    meta = {"registered_images": registered, "input_images": total, "ratio": round(ratio, 4), "min_ratio": min_ratio}
    bar = f"at least {needed} are needed"
    if min_ratio > 0:  # under Dagster the stage holds only the floor (registration_bar): no "0% of the input"
        bar += f": {MIN_REGISTERED_IMAGES} or {min_ratio:.0%} of the input, whichever is more"
    text = f"{registered} of {total} images registered ({ratio:.0%}; {bar})"
    meta.update(needed=needed, bar=bar)
    return CheckOutcome(stage, REGISTERED_RATIO, registered >= needed, text, meta, REGISTRATION_HINT)


def psnr_grade(psnr: float, min_psnr: float, warn_psnr: float) -> Literal["broken", "weak", "good"]:
    """Broken under `min_psnr` (not delivered), weak under `warn_psnr` (delivered, said so), else good."""
    if psnr < min_psnr:
        return "broken"
    return "weak" if psnr < max(min_psnr, warn_psnr) else "good"


def _registered_ratio(stage: str, output: Path, metrics: Mapping[str, Any], params: Mapping[str, Any]) -> CheckOutcome:
    figures = headline(stage, output, metrics)
    registered, total = figures.get("registered_images"), figures.get("input_images")
    if registered is None or not total:
        return CheckOutcome(stage, REGISTERED_RATIO, False, "the SfM stage reported no registered/input image counts")
    return judge_registration(
        stage, int(registered), int(total), float(params.get("min_ratio", DEFAULT_MIN_REGISTERED_RATIO))
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
    name = HELDOUT_PSNR
    meta: dict[str, Any] = {"min_psnr": minimum, "warn_psnr": warning}
    if metrics.get("training_enabled") is False or metrics.get("trained") is False:
        return CheckOutcome(stage, name, True, "training is off for this job: nothing to judge", meta)
    if psnr is None:
        return CheckOutcome(stage, name, False, "the splat stage reported no held-out PSNR", meta)
    meta = {"psnr": round(float(psnr), 3), **meta}
    grade = psnr_grade(float(psnr), minimum, warning)
    if grade == "broken":
        return CheckOutcome(
            stage,
            name,
            False,
            f"{label} {psnr:.2f} dB is under the {minimum:.2f} dB minimum: the splat is broken",
            meta,
            hint="check the SfM result (registered images) and the input frames, then train longer (training.maxSteps)",
        )
    if grade == "weak":
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
    name = SPZ_READS_BACK
    if metrics.get("trained") is False:
        return _sparse_reads_back(stage, name, Path(output), metrics)
    if metrics.get("model") == "nerfacto":
        return _mesh_reads_back(stage, name, Path(output), metrics)
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


def _mesh_reads_back(stage: str, name: str, output: Path, metrics: Mapping[str, Any]) -> CheckOutcome:
    """nerfacto: no .spz by design; what is delivered is the textured mesh, which must read back."""
    from gs_stages.export.mesh import glb_summary

    file = output / str(metrics.get("mesh_file") or "")
    if not file.is_file():
        return CheckOutcome(stage, name, False, f"nerfacto delivers a .glb mesh and there is none in {output}")
    try:
        summary = glb_summary(file)
    except (ValueError, OSError) as exc:
        return CheckOutcome(stage, name, False, f"{file.name} does not read back: {exc}", {"file": file.name})
    meta = {"file": file.name, **summary, "no_spz": True}
    if summary["meshes"] == 0 or summary["images"] == 0:
        return CheckOutcome(
            stage, name, False, f"{file.name} holds {summary['meshes']} mesh(es), {summary['images']} texture(s)", meta
        )
    return CheckOutcome(stage, name, True, f"no .spz for a NeRF (nerfacto): {file.name} reads back, textured", meta)


CHECKS = {
    ("sparse_model", REGISTERED_RATIO): _registered_ratio,
    ("splat", HELDOUT_PSNR): _heldout_psnr,
    ("spz", SPZ_READS_BACK): _spz_reads_back,
}


def evaluate_check(
    stage: str, name: str, output: Path, metrics: Mapping[str, Any], params: Mapping[str, Any] | None = None
) -> CheckOutcome:
    try:
        function = CHECKS[(stage, name)]
    except KeyError:
        raise ValueError(f"no check {name!r} on {stage!r}; checks are {sorted(CHECKS)}") from None
    return function(stage, Path(output), metrics, params or {})
