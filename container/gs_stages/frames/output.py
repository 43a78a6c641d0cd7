"""Output naming shared by the video and archive paths."""

from __future__ import annotations

import shutil
from pathlib import Path

from gs_stages.layout import IMAGES_DIR, MANIFEST, PRIORS_DIR

#: Scratch folder inside the output for images whose final name is known only after filtering.
STAGING_DIR = ".staging"


def frame_name(index: int) -> str:
    return f"{index:06d}.jpg"


def prepare_output(output: Path) -> Path:
    """Empty what this stage writes, so a retry into the same folder leaves no stale frames."""
    for name in (IMAGES_DIR, PRIORS_DIR, STAGING_DIR):
        shutil.rmtree(output / name, ignore_errors=True)
    (output / MANIFEST).unlink(missing_ok=True)
    images = output / IMAGES_DIR
    images.mkdir(parents=True)
    return images
