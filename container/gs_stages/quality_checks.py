"""The quality checks of the stage outputs, judged in the stage process right after the stage.

A blocking check that fails stops the chain before a bad result reaches the next stage (one launch runs
several stages, so Dagster cannot stop it between them; gs_stages/reporter.py runs them). The Dagster side
names the checks to run in the Pipes extras (`gs_checks`); the same `evaluate_check` judges stored outputs
when Dagster runs a check on its own (assets/checks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gs_stages.report import headline

#: The held-out PSNR bars (dB) when the Dagster side sends none: broken below the first, weak below the second.
DEFAULT_MIN_PSNR = 12.0
DEFAULT_WARN_PSNR = 20.0


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
