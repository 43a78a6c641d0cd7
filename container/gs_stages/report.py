"""What a stage reports besides `metrics.json`: its metadata for Dagster, and the Pipes names both sides share.

Under Pipes each finished stage is reported as a materialization of the asset with the stage's name,
so one launch that runs several stages materializes each of them. The materialization carries every
metric, the headline figures under fixed names (`frame_count`, `registered_images`, `psnr`,
`num_gaussians`, `spz_bytes`, ...) and, for the splat, the name of the preview image in its output
(never the image itself).

The reporters that send it live in gs_stages/reporter.py, the quality checks in gs_stages/quality_checks.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gs_stages.layout import IMAGES_DIR, PREVIEW_PNG

#: Pipes extras key: a list of {"stage", "name", "blocking", "params"} for the selected checks.
CHECKS_EXTRA = "gs_checks"
#: Pipes custom message sent when a stage fails: {"event": "stage_failed", "stage", "message"}.
FAILED_EVENT = "stage_failed"
#: Materialization metadata key naming the preview image inside the stage's output folder.
PREVIEW_FILE_KEY = "preview_file"

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
    # The spz stage's picture is its delivered thumbnail (named in its metrics).
    preview = str(metrics.get("thumbnail_file") or "") if stage == "spz" else PREVIEW_PNG
    if preview and "/" not in preview and (output / preview).is_file():
        # By reference: the Dagster side reads the file from storage. An image inlined here made one Pipes
        # message line of ~100 KB, the kind a reader tailing the file can be handed half of.
        metadata[PREVIEW_FILE_KEY] = preview
    return metadata
