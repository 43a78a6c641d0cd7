"""What the sparse_model stage reads from the masks stage, and the frames manifest it requires."""

from __future__ import annotations

from gs_stages.layout import MANIFEST, FramesInput, FramesManifest, MaskFolders, read_mask_folders
from gs_stages.stage import StageContext, StageError


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
