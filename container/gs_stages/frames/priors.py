"""Find pose priors in an uploaded zip (transforms.json, a COLMAP model) and copy them as given.

The frames stage does not interpret poses: the pose-prior loader does, later, using the manifest's
member paths to map `file_path` entries and COLMAP image names onto the output image names.
"""

from __future__ import annotations

import json
import logging
import posixpath
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from gs_stages.frames.archive import SafeArchive, member_path, natural_key
from gs_stages.jobspec import JobSpec
from gs_stages.layout import PRIORS_DIR, TRANSFORMS_JSON
from gs_stages.stage import StageError

log = logging.getLogger("gs_stages.frames")

TRANSFORMS_KIND = "transforms_json"
COLMAP_KIND = "colmap_model"
#: Files of a COLMAP model (older models lack rigs/frames); nothing else in the folder is copied.
COLMAP_STEMS = ("cameras", "images", "points3D", "rigs", "frames")
COLMAP_SUFFIXES = (".bin", ".txt")
PRIORS_SPARSE = "sparse"


@dataclass
class FoundPriors:
    transforms: zipfile.ZipInfo | None = None
    colmap_dir: str | None = None  # folder inside the zip, "" for the root
    colmap_files: list[zipfile.ZipInfo] = field(default_factory=list)
    #: Images the priors name as something other than a frame (depth maps), so they are not ingested.
    not_frames: set[str] = field(default_factory=set)

    @property
    def kinds(self) -> list[str]:
        return [k for k, v in ((TRANSFORMS_KIND, self.transforms), (COLMAP_KIND, self.colmap_dir)) if v is not None]


def _depth(path: str) -> tuple[int, tuple[tuple[object, ...], str]]:
    return path.count("/"), natural_key(path)


def _is_colmap_file(path: str) -> bool:
    stem, suffix = posixpath.splitext(posixpath.basename(path))
    return stem in COLMAP_STEMS and suffix in COLMAP_SUFFIXES


def _find_transforms(archive: SafeArchive) -> zipfile.ZipInfo | None:
    found = [i for i in archive.files if posixpath.basename(member_path(i)).lower() == TRANSFORMS_JSON]
    found.sort(key=lambda i: _depth(member_path(i)))
    if len(found) > 1:
        log.warning("the zip has %d transforms.json files; using %s", len(found), found[0].filename)
    return found[0] if found else None


def _find_colmap(archive: SafeArchive) -> tuple[str | None, list[zipfile.ZipInfo]]:
    """The shallowest folder holding both cameras.* and images.* (e.g. sparse/0 before sparse/1)."""
    by_folder: dict[str, list[zipfile.ZipInfo]] = {}
    for info in archive.files:
        path = member_path(info)
        if _is_colmap_file(path):
            by_folder.setdefault(posixpath.dirname(path), []).append(info)
    models = []
    for folder, infos in by_folder.items():
        stems = {posixpath.splitext(posixpath.basename(member_path(i)))[0] for i in infos}
        if {"cameras", "images"} <= stems:
            models.append(folder)
    if not models:
        return None, []
    models.sort(key=_depth)
    if len(models) > 1:
        log.warning("the zip has %d COLMAP models (%s); using %r", len(models), ", ".join(models), models[0])
    return models[0], by_folder[models[0]]


def _transforms_document(archive: SafeArchive, info: zipfile.ZipInfo) -> dict | None:
    try:
        document = json.loads(archive.read(info))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("frames"), list) else None


def find_priors(archive: SafeArchive) -> FoundPriors:
    found = FoundPriors(transforms=_find_transforms(archive))
    found.colmap_dir, found.colmap_files = _find_colmap(archive)
    if found.transforms is not None:
        document = _transforms_document(archive, found.transforms) or {"frames": []}
        folder = posixpath.dirname(member_path(found.transforms))
        for frame in document["frames"]:
            depth = frame.get("depth_path") if isinstance(frame, dict) else None
            if isinstance(depth, str):
                found.not_frames.add(posixpath.normpath(posixpath.join(folder, depth)))
    return found


def requested_kind(spec: JobSpec, found: FoundPriors, archive: SafeArchive) -> str | None:
    """The prior the job uses; a job that asks for a prior the zip lacks is refused here, early."""
    priors = spec.sfm.pose_priors
    if priors.transform_json.enable:
        if found.transforms is None:
            raise StageError(
                "the job uses transforms.json pose priors "
                "(sfm.posePriors.usePosePriorTransformJson.enable) but the zip has no transforms.json",
                hint="put transforms.json next to the images/ folder in the zip, or turn the option off",
            )
        if _transforms_document(archive, found.transforms) is None:
            raise StageError(
                f"{found.transforms.filename} in the zip is not a transforms.json (a JSON object with a 'frames' list)",
                hint="export it again from your capture app (NeRFCapture / instant-ngp format)",
            )
        return TRANSFORMS_KIND
    if priors.use_colmap_model_files:
        if found.colmap_dir is None:
            raise StageError(
                "the job uses a COLMAP model as pose priors (sfm.posePriors.usePosePriorColmapModelFiles) "
                "but the zip has no model (cameras.bin/.txt and images.bin/.txt, e.g. in sparse/0/)",
                hint="add the COLMAP model folder sparse/0/ next to images/ in the zip, or turn the option off",
            )
        return COLMAP_KIND
    return None


def priors_source(found: FoundPriors, kind: str | None) -> str | None:
    """Where the prior in use sits inside the zip: file paths in it are relative to that place."""
    if kind == TRANSFORMS_KIND and found.transforms is not None:
        return member_path(found.transforms)
    if kind == COLMAP_KIND:
        return found.colmap_dir
    return None


def copy_priors(archive: SafeArchive, found: FoundPriors, output: Path) -> list[str]:
    """Copy every prior found, byte for byte, under fixed names; return the written paths."""
    written: list[str] = []
    priors_dir = output / PRIORS_DIR
    if found.transforms is not None:
        priors_dir.mkdir(parents=True, exist_ok=True)
        (priors_dir / TRANSFORMS_JSON).write_bytes(archive.read(found.transforms))
        written.append(f"{PRIORS_DIR}/{TRANSFORMS_JSON}")
    if found.colmap_files:
        sparse = priors_dir / PRIORS_SPARSE
        sparse.mkdir(parents=True, exist_ok=True)
        for info in found.colmap_files:
            # The name is one of the fixed COLMAP file names (checked above), never a path from the zip.
            name = posixpath.basename(member_path(info))
            (sparse / name).write_bytes(archive.read(info))
            written.append(f"{PRIORS_DIR}/{PRIORS_SPARSE}/{name}")
    return written
