"""What the sparse_model stage reads from the frames stage's output: image names, manifest, masks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gs_stages.layout import IMAGES_DIR, MANIFEST, MASKS_DIR, MASKS_JSON, FramesManifest
from gs_stages.stage import StageContext, StageError

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class FramesInput:
    image_dir: Path
    names: list[str]
    manifest: FramesManifest | None


def read_frames_input(frames_dir: Path) -> FramesInput:
    """Image names in the manifest's order (sequential matching relies on it), checked to exist."""
    image_dir = frames_dir / IMAGES_DIR
    manifest = FramesManifest.read(frames_dir) if (frames_dir / MANIFEST).is_file() else None
    if manifest is not None:
        names = [f.name for f in manifest.frames]
        absent = [n for n in names if not (image_dir / n).is_file()]
        if absent:
            raise StageError(
                f"the frames manifest lists {len(absent)} image(s) missing from {image_dir}: {', '.join(absent[:5])}",
                hint="run the frames stage again; its output is incomplete",
            )
    else:
        names = sorted(p.name for p in image_dir.glob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not names:
        raise StageError(f"no images in {image_dir}", hint="run the frames stage first; it writes images/")
    return FramesInput(image_dir, names, manifest)


def mask_dir(ctx: StageContext) -> Path | None:
    """The masks stage's masks/ folder when segmentation ran; None otherwise (no masks input, or disabled)."""
    masks = ctx.optional_input("masks")
    if masks is None or not (masks / MASKS_JSON).is_file():
        return None
    try:
        enabled = bool(json.loads((masks / MASKS_JSON).read_text()).get("enabled", False))
    except (json.JSONDecodeError, AttributeError):
        raise StageError(f"{masks / MASKS_JSON} is not valid", hint="run the masks stage again") from None
    return masks / MASKS_DIR if enabled and (masks / MASKS_DIR).is_dir() else None


def require_manifest(frames: FramesInput, what: str) -> FramesManifest:
    if frames.manifest is None:
        raise StageError(
            f"{what} pose priors need the frames manifest ({MANIFEST}) to map image names, and it is missing",
            hint="run the frames stage again on the zip",
        )
    return frames.manifest
