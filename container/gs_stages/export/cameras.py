"""The capture cameras delivered with a splat (`cameras.json`), so a viewer can open at a photo's view.

The splat stage knows the posed views it trained on and writes them in training coordinates; the spz
stage applies the same rotation as to the Gaussians, so the cameras are in the delivered files' axes.
Each camera: `name` (the frame), `width`/`height` (pixels as trained), `fx`, `fy`, `cx`, `cy` (pinhole
intrinsics, pixel centres at +0.5 as COLMAP) and `world_to_camera` (4x4 row-major, OpenCV camera axes:
x right, y down, z forward). A three.js camera is its inverse times diag(1, -1, -1, 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

CAMERAS_JSON = "cameras.json"
FORMAT = "gs-dagster cameras 1"


def camera_entry(name: str, viewmat: Any, K: Any, width: int, height: int) -> dict[str, Any]:
    """One camera as `cameras.json` holds it (see the module docstring)."""
    K = np.asarray(K, dtype=np.float64)
    return {
        "name": name,
        "width": int(width),
        "height": int(height),
        "fx": float(K[0, 0]),
        "fy": float(K[1, 1]),
        "cx": float(K[0, 2]),
        "cy": float(K[1, 2]),
        "world_to_camera": np.asarray(viewmat, dtype=np.float64).reshape(4, 4).tolist(),
    }


def write_cameras(path: Path, cameras: Iterable[dict[str, Any]], axes: str) -> Path:
    """`cameras` sorted by name into `path`; `axes` says which world frame they are in."""
    ordered = sorted(cameras, key=lambda c: c["name"])
    Path(path).write_text(json.dumps({"format": FORMAT, "axes": axes, "cameras": ordered}, indent=1))
    return Path(path)


def read_cameras(path: Path) -> dict[str, Any]:
    """A `cameras.json`; a file of another format is a ValueError that names it."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("cameras"), list):
        raise ValueError(f"{path} is not a {FORMAT!r} file")
    return data


def rotate_cameras(data: dict[str, Any], rotation: np.ndarray, axes: str) -> dict[str, Any]:
    """The cameras of a splat rotated by `rotation` (x' = R x): each world-to-camera becomes V · diag(Rᵀ, 1)."""
    undo = np.eye(4)
    undo[:3, :3] = np.asarray(rotation, dtype=np.float64).T
    cameras = [
        {**c, "world_to_camera": (np.asarray(c["world_to_camera"], dtype=np.float64) @ undo).tolist()}
        for c in data["cameras"]
    ]
    return {**data, "axes": axes, "cameras": cameras}
