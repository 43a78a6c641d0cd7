"""What a zip of photos holds, judged from its member list alone: no photos, or too few for SfM.

The frames stage says so after opening the whole upload; the intake and `gs-dagster submit` say the same
from the zip's central directory, which sits at the end of the file (`listing_problem` reads it from the
last `TAIL_BYTES`), so a job whose zip cannot work is refused before a run starts, and a corrected upload
under the same uuid is accepted. A tail that cannot be read as a zip's end is left to the frames stage:
only a positive finding refuses.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import PurePosixPath

from gs_stages.frames.archive import IMAGE_EXTENSIONS, is_image, is_junk
from gs_stages.quality_checks import MIN_REGISTERED_IMAGES
from gs_stages.stage import StageError

#: Bytes read from the end of a zip: its central directory (about 100 bytes a member) and end record.
TAIL_BYTES = 1024 * 1024
MASKS_FOLDER = "masks"
#: The accepted extensions as a message lists them: ".jpg, .jpeg, .png, ... or .avif".
PHOTO_FORMATS = ", ".join(IMAGE_EXTENSIONS[:-1]) + " or " + IMAGE_EXTENSIONS[-1]
#: What a zip without photos may hold instead, and what to do about it (a message says which it found).
_INSTEAD = {
    "zip": ("a zip inside the zip", "zip the photos themselves, not a zip of them"),
    "video": ("a video", "upload the video itself as the job's media (s3.inputKey ending in .mp4 or .mov)"),
    "raw": ("camera RAW", "convert the RAW files to JPEG first"),
    "tiff": ("TIFF", "convert the TIFF files to JPEG first"),
}
_KIND_OF_SUFFIX = {
    ".zip": "zip",
    **dict.fromkeys((".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm"), "video"),
    **dict.fromkeys((".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".srw", ".pef"), "raw"),
    **dict.fromkeys((".tif", ".tiff"), "tiff"),
}


def in_masks_folder(path: str) -> bool:
    return MASKS_FOLDER in (part.casefold() for part in path.split("/")[:-1])


def no_photos(name: str, paths: list[str]) -> StageError:
    """Say what the zip (its regular, non-junk files `paths`) held instead of photos, and the fix for it."""
    counts = Counter(PurePosixPath(path).suffix.lower() or "(no extension)" for path in paths)
    held = ", ".join(f"{n} {suffix}" for suffix, n in counts.most_common(5)) or "no files"
    kinds = [k for k in _INSTEAD if any(_KIND_OF_SUFFIX.get(suffix) == k for suffix in counts)]
    masks_only = any(is_image(path) and in_masks_folder(path) for path in paths)
    found = "; ".join([_INSTEAD[k][0] for k in kinds] + (["photos only under masks/"] if masks_only else []))
    hints = [_INSTEAD[k][1] for k in kinds]
    if masks_only:
        hints.append("masks/ folders hold masks, not frames: put the photos outside them")
    return StageError(
        f"the zip {name} holds no photos ({PHOTO_FORMATS}): it holds {held}" + (f" ({found})" if found else ""),
        hint="; ".join(hints) or "zip the folder of photos itself",
    )


def contents_problem(name: str, paths: list[str]) -> StageError | None:
    """No photos, or fewer than SfM can ever pose (MIN_REGISTERED_IMAGES), among the zip's files."""
    photos = [p for p in paths if is_image(p) and not in_masks_folder(p)]
    if not photos:
        return no_photos(name, paths)
    if len(photos) < MIN_REGISTERED_IMAGES:
        return StageError(
            f"the zip {name} holds {len(photos)} photo(s); SfM needs at least {MIN_REGISTERED_IMAGES} photos "
            "of the scene to place any camera",
            hint="zip 20 or more photos of the scene, each overlapping its neighbours by 60-80%, and upload that",
        )
    return None


def listing_problem(name: str, tail: bytes) -> StageError | None:
    """`contents_problem` of the zip whose last bytes are `tail` (its whole end: central directory and end
    record), or None when the tail does not read as one (too long a directory, not a zip, damaged)."""
    try:
        with zipfile.ZipFile(io.BytesIO(tail)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError):
        return None
    paths = [i.filename.replace("\\", "/") for i in infos if not i.is_dir()]
    return contents_problem(name, [p for p in paths if not is_junk(p)])
