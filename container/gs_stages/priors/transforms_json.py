"""Read a transforms.json (NeRFCapture / instant-ngp) into COLMAP poses and intrinsics per frame.

Intrinsics may sit at the top level or per frame (per-frame values win). They describe the images
in the zip, so they are scaled to the size the frames stage wrote. Frames whose image is not among
the frames (the fox set lists 67 frames for 50 images) are skipped with a warning and counted.
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gs_stages.layout import FrameRecord, FramesManifest
from gs_stages.priors.conventions import Convention, PoseMatrixError, colmap_cam_from_world
from gs_stages.priors.frame_names import FrameNameIndex
from gs_stages.stage import StageError

_DISTORTION_KEYS = ("k1", "k2", "p1", "p2")
_ASPECT_TOLERANCE = 0.01  # w/h of the json vs the image: rounding passes, a rotated image does not


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera (with optional OpenCV distortion) for images of `width` x `height` pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # k1, k2, p1, p2

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera for the image resized to width x height (focal and principal point scale)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, self.distortion)

    def colmap(self) -> tuple[str, list[float]]:
        """COLMAP model name and parameters: OPENCV with distortion, else PINHOLE."""
        pinhole = [self.fx, self.fy, self.cx, self.cy]
        if any(self.distortion):
            return "OPENCV", [*pinhole, *self.distortion]
        return "PINHOLE", pinhole


@dataclass
class PosedFrame:
    """One frame with a known pose: the frames' output name, cam_from_world (4x4, OpenCV axes)."""

    name: str
    cam_from_world: np.ndarray
    intrinsics: Intrinsics


@dataclass
class TransformsPriors:
    frames: list[PosedFrame]
    listed: int  # frames in transforms.json
    missing: list[str] = field(default_factory=list)  # file_path entries with no image among the frames
    unposed: list[str] = field(default_factory=list)  # frames' images that transforms.json does not list


def _number(raw: dict[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StageError(f"transforms.json {where}: {key} is {value!r}, expected a number") from None
    if not math.isfinite(number):
        raise StageError(f"transforms.json {where}: {key} is {value!r}, expected a finite number")
    return number


def _intrinsics(top: dict[str, Any], frame: dict[str, Any], record: FrameRecord, where: str) -> Intrinsics:
    """Per-frame keys override top-level ones; w/h default to the image's size in the zip.

    The values describe w x h images; they are scaled to the size the frames stage wrote.
    """

    def get(key: str) -> float | None:
        value = _number(frame, key, where)
        return value if value is not None else _number(top, key, "(top level)")

    width = get("w") or float(record.source_width)
    height = get("h") or float(record.source_height)
    if abs(width / height - record.source_width / record.source_height) > _ASPECT_TOLERANCE:
        raise StageError(
            f"transforms.json {where}: intrinsics are for {width:g}x{height:g} images, "
            f"but the image {record.source} is {record.source_width}x{record.source_height} (another shape)",
            hint="export transforms.json together with the images it describes (w and h must match them)",
        )
    fx = get("fl_x")
    angle_x = get("camera_angle_x")
    if fx is None and angle_x is not None:
        fx = 0.5 * width / math.tan(0.5 * angle_x)
    if fx is None or fx <= 0:
        raise StageError(
            f"transforms.json {where}: no focal length (fl_x or camera_angle_x)",
            hint="add fl_x, fl_y, cx, cy at the top level or per frame",
        )
    fy = get("fl_y") or fx
    cx = get("cx")
    cy = get("cy")
    k1, k2, p1, p2 = (get(k) or 0.0 for k in _DISTORTION_KEYS)
    given = Intrinsics(
        width=round(width),
        height=round(height),
        fx=fx,
        fy=fy,
        cx=cx if cx is not None else width / 2,
        cy=cy if cy is not None else height / 2,
        distortion=(k1, k2, p1, p2),
    )
    # The json may describe larger originals than the zip holds; scaling to the written size covers both.
    return given.scaled(record.width, record.height)


def read_transforms_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StageError(
            f"cannot read the pose priors {path.name}: {exc}",
            hint="upload a valid transforms.json (NeRFCapture / instant-ngp format)",
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("frames"), list) or not document["frames"]:
        raise StageError(
            f"{path.name} has no 'frames' list",
            hint="a transforms.json holds frames[] with file_path and transform_matrix per image",
        )
    return document


def load_transforms_priors(
    path: Path,
    manifest: FramesManifest,
    convention: Convention,
    pose_is_world_to_cam: bool,
    log: logging.Logger,
) -> TransformsPriors:
    """Poses and intrinsics for every frame that transforms.json lists and the frames stage wrote."""
    document = read_transforms_document(path)
    index = FrameNameIndex(manifest.frames)
    base_dir = posixpath.dirname(manifest.priors_source or "")
    posed: dict[str, PosedFrame] = {}
    missing: list[str] = []
    for number, frame in enumerate(document["frames"]):
        where = f"frames[{number}]"
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise StageError(f"transforms.json {where} has no file_path", hint="every frame needs file_path")
        file_path = frame["file_path"]
        where = f"{where} ({file_path})"
        record = index.resolve(file_path, base_dir)
        if record is None:
            missing.append(file_path)
            continue
        if record.name in posed:
            raise StageError(f"transforms.json {where}: a second pose for the image {record.source}")
        if "transform_matrix" not in frame:
            raise StageError(f"transforms.json {where} has no transform_matrix")
        try:
            cam_from_world = colmap_cam_from_world(frame["transform_matrix"], convention, pose_is_world_to_cam)
        except PoseMatrixError as exc:
            raise StageError(
                f"transforms.json {where}: {exc}",
                hint="transform_matrix must be a 4x4 rigid transform (rotation and translation)",
            ) from None
        posed[record.name] = PosedFrame(record.name, cam_from_world, _intrinsics(document, frame, record, where))
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        log.warning(
            "transforms.json lists %d of %d frames whose image is not among the frames; skipped: %s",
            len(missing),
            len(document["frames"]),
            shown,
        )
    unposed = [r.name for r in manifest.frames if r.name not in posed]
    if unposed:
        log.warning("%d frame(s) have no pose in transforms.json and are left out of the model", len(unposed))
    ordered = [posed[r.name] for r in manifest.frames if r.name in posed]
    return TransformsPriors(frames=ordered, listed=len(document["frames"]), missing=missing, unposed=unposed)
