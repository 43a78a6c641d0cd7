"""What a job with `training.enable: false` delivers: its structure-from-motion result.

The spz stage, with training off, writes instead of a splat
    sparse/0/{cameras,images,points3D}.{bin,txt}   the COLMAP model, as the sparse_model stage made it
    <name>_points.ply                              the sparse points, x y z + red green blue (any viewer)
and delivery places both under `<outputPrefix>/<uuid>/`. No rotation: these stay in COLMAP's axes,
where the cameras in images.bin/txt are (a user who trains elsewhere needs the two to agree).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from plyfile import PlyData, PlyElement

from gs_stages.layout import SPARSE_DIR
from gs_stages.stage import StageContext, StageError

POINTS_SUFFIX = "_points.ply"


def write_points_ply(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> Path:
    vertices = np.empty(len(xyz), dtype=[(c, "f4") for c in "xyz"] + [(c, "u1") for c in ("red", "green", "blue")])
    for i, c in enumerate("xyz"):
        vertices[c] = xyz[:, i]
    for i, c in enumerate(("red", "green", "blue")):
        vertices[c] = rgb[:, i]
    PlyData([PlyElement.describe(vertices, "vertex")]).write(str(path))
    return path


def read_points_ply(path: Path) -> int:
    """The number of points a delivered points .ply holds (raises when it does not read)."""
    return len(PlyData.read(str(path))["vertex"])


def export_sparse(ctx: StageContext, name: str) -> dict[str, Any]:
    """Copy the sparse model and write its points as a .ply; the spz stage's metrics with training off."""
    import pycolmap

    sparse = ctx.optional_input("sparse_model")
    model_dir = sparse / SPARSE_DIR if sparse is not None else None
    if model_dir is None or not (model_dir / "points3D.bin").is_file():
        raise StageError(
            f"training.enable is false, so this job delivers its sparse model, but there is none at {model_dir or '?'}",
            hint="run the sparse_model stage for this job first (or turn training on to deliver a splat)",
        )
    model = pycolmap.Reconstruction(str(model_dir))
    target = ctx.output / SPARSE_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    model.write_binary(str(target))
    model.write_text(str(target))
    points = list(model.points3D.values())
    xyz = np.array([p.xyz for p in points], dtype=np.float32).reshape(-1, 3)
    rgb = np.array([p.color for p in points], dtype=np.uint8).reshape(-1, 3)
    ply = write_points_ply(ctx.output / f"{name}{POINTS_SUFFIX}", xyz, rgb)
    ctx.log.info(
        "training is off: delivering the sparse model (%d points, %d images)", len(points), model.num_reg_images()
    )
    return {
        "trained": False,
        "reason": "training.enable is false: the sparse model is delivered instead of a splat",
        "points3d": len(points),
        "registered_images": model.num_reg_images(),
        "points_file": ply.name,
        "points_ply_bytes": ply.stat().st_size,
        "sparse_model_dir": SPARSE_DIR,
    }
