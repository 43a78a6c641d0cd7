"""What the sparse_model stage reads from the frames stage's output: image names, manifest, masks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gs_stages.layout import IMAGES_DIR, MANIFEST, FramesManifest, MaskFolders, read_mask_folders
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


def feature_masks(ctx: StageContext) -> MaskFolders | None:
    """Where SfM may take features, from the masks stage: its object masks (when background removal
    ran) and its ignore masks (people); None when neither exists."""
    try:
        folders = read_mask_folders(ctx.optional_input("masks"))
    except ValueError as exc:  # json.JSONDecodeError included
        raise StageError(
            f"the masks stage's masks.json is not valid: {exc}", hint="run the masks stage again"
        ) from None
    keep = folders.keep if folders.keep is not None and folders.keep.is_dir() else None
    return MaskFolders(keep, folders.ignore) if keep is not None or folders.ignore is not None else None


def require_manifest(frames: FramesInput, what: str) -> FramesManifest:
    if frames.manifest is None:
        raise StageError(
            f"{what} pose priors need the frames manifest ({MANIFEST}) to map image names, and it is missing",
            hint="run the frames stage again on the zip",
        )
    return frames.manifest
