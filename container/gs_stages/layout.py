"""The on-disk layout of stage outputs: one place that names every file a later stage reads.

frames/<uuid>/
    images/000000.jpg ...        stable sequential names
    manifest.json                FramesManifest: source of each frame, sharpness, sizes
    priors/transforms.json       when the zip carried pose priors (as given, untouched)
    priors/sparse/               when the zip carried a COLMAP model (as given, untouched)
masks/<uuid>/
    masks/000000.png ...         8-bit, 255 = keep; absent when segmentation is off
    ignore/000000.png ...        8-bit, 255 = leave out of SfM and training (people); only with removeHumanSubject
    masks.json                   {"enabled": bool (masks/ is there), "ignore": {"dir": "ignore", ...} or absent}
sparse_model/<uuid>/
    sparse/0/{cameras,images,points3D}.bin (+ .txt for humans); image names = frames/images names
splat/<uuid>/
    splat.ply                    trained Gaussians, training coordinates (3DGS layout)
    checkpoints/                 resumable training state
    preview.png                  held-out renders next to ground truth
    (nerfacto instead:)          mesh.glb (textured) and point_cloud.ply, from nerfstudio (gs_stages/nerf/)
spz/<uuid>/
    <name>.ply, <name>.spz       delivered files (rotated when rotateSplat)
    (training off instead:)      <name>_points.ply and sparse/0/, the SfM result (export/sparse.py)
    (nerfacto instead:)          <name>.glb and <name>_points.ply, no .spz (export/mesh.py)
Every stage also writes metrics.json, and last `.stage_complete.json` (COMPLETE_MARKER): the stage
finished and passed the blocking checks judged in its process. Launchers keep a new output only when
its marker is there, whatever reached them as messages.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gs_stages.stage import StageError

IMAGES_DIR = "images"
MANIFEST = "manifest.json"
PRIORS_DIR = "priors"
TRANSFORMS_JSON = "transforms.json"
MASKS_DIR = "masks"
MASKS_JSON = "masks.json"
IGNORE_DIR = "ignore"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # frames without a manifest
SPARSE_DIR = "sparse/0"
SPLAT_PLY = "splat.ply"
MESH_GLB = "mesh.glb"  # nerfacto's textured mesh
POINT_CLOUD_PLY = "point_cloud.ply"  # and the point cloud it was made from
CHECKPOINTS_DIR = "checkpoints"
PREVIEW_PNG = "preview.png"
METRICS_JSON = "metrics.json"
COMPLETE_MARKER = ".stage_complete.json"


def write_complete_marker(output: Path, stage: str, uuid: str) -> Path:
    """Say, in the output itself, that the stage finished and its in-process checks passed (written last)."""
    path = Path(output) / COMPLETE_MARKER
    path.write_text(json.dumps({"stage": stage, "uuid": uuid}))
    return path


def is_complete(output: Path) -> bool:
    """Whether a stage output holds the marker its stage writes last (a finished, accepted output)."""
    return (Path(output) / COMPLETE_MARKER).is_file() and (Path(output) / METRICS_JSON).is_file()


@dataclass
class FrameRecord:
    """One output image and where it came from."""

    name: str  # file name under images/, e.g. "000012.jpg"
    source: str  # video: "frame:<index>"; archive: the member path inside the zip, e.g. "images/0001.jpg"
    width: int  # size as written
    height: int
    source_width: int  # size before downscaling (intrinsics from priors are scaled by width/source_width)
    source_height: int
    sharpness: float  # variance of the Laplacian on the grey image
    timestamp_s: float | None = None  # video frames only


@dataclass
class FramesManifest:
    media_kind: str  # "video" or "archive"
    media_name: str
    frames: list[FrameRecord] = field(default_factory=list)
    priors: str | None = None  # None, "transforms_json" or "colmap_model"
    dropped: list[dict[str, Any]] = field(default_factory=list)  # frames left out, with the reason
    # Member path inside the zip of the prior in use (transforms.json, or the COLMAP model folder):
    # transforms.json `file_path` entries are relative to its folder, so the loader needs it.
    priors_source: str | None = None

    def write(self, directory: Path) -> Path:
        path = Path(directory) / MANIFEST
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, directory: Path) -> FramesManifest:
        raw = json.loads((Path(directory) / MANIFEST).read_text())
        frames = [FrameRecord(**f) for f in raw.pop("frames")]
        return cls(frames=frames, **raw)

    def by_source(self) -> dict[str, FrameRecord]:
        return {f.source: f for f in self.frames}


@dataclass(frozen=True)
class MaskFolders:
    """What the masks stage wrote, as later stages read it (masks.json)."""

    keep: Path | None  # masks/: 255 = object, 0 = removed background (None: no background removal)
    ignore: Path | None  # ignore/: 255 = pixels no later stage may use (None: none)


def read_mask_folders(masks_dir: Path | None) -> MaskFolders:
    """The masks stage's folders in use; raises ValueError when masks.json is not what it writes."""
    config = Path(masks_dir) / MASKS_JSON if masks_dir is not None else None
    if config is None or not config.is_file():
        return MaskFolders(None, None)
    raw = json.loads(config.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{config} is not a JSON object")
    keep = Path(masks_dir) / MASKS_DIR if raw.get("enabled", False) else None
    entry = raw.get("ignore")
    ignore = Path(masks_dir) / str(entry.get("dir", IGNORE_DIR)) if isinstance(entry, dict) else None
    return MaskFolders(keep, ignore)  # as declared: a reader finding a mask missing says so


@dataclass
class FramesInput:
    image_dir: Path
    names: list[str]
    manifest: FramesManifest | None


def read_frames_input(frames_dir: Path) -> FramesInput:
    """The frames stage's images: names in the manifest's order (sequential matching relies on it),
    checked to exist; without a manifest, the image files in name order."""
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
