"""What a nerfacto job delivers: nerfstudio's textured mesh, since a NeRF has no Gaussians and so no .spz.

The spz stage, for `training.model: nerfacto`, writes instead of a splat
    <name>.glb          the textured mesh (binary glTF: geometry, UVs and the texture image in one file)
    <name>_points.ply   the coloured point cloud the mesh was made from
both in the COLMAP model's world, as the splat stage's nerfacto path left them (gs_stages/nerf/). No
rotation (rotateSplat is about splat viewers' axes). The metrics say why there is no .spz.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

from gs_stages.export.source import read_splat_output
from gs_stages.layout import MESH_GLB, POINT_CLOUD_PLY
from gs_stages.stage import StageContext

NO_SPZ = "training.model nerfacto is a NeRF: it has no Gaussians, so there is no .spz; the result is a textured mesh"
GLB_MAGIC = b"glTF"


def glb_summary(path: Path) -> dict[str, int]:
    """Meshes, images (textures) and bytes of a binary glTF 2.0 file, read from its header and JSON chunk;
    raises ValueError when it is not one."""
    data = Path(path).read_bytes()
    if len(data) < 20 or data[:4] != GLB_MAGIC:
        raise ValueError(f"{path.name} is not a binary glTF file")
    version, length = struct.unpack_from("<II", data, 4)
    chunk_length, chunk_type = struct.unpack_from("<II", data, 12)
    if version != 2 or length != len(data) or chunk_type != 0x4E4F534A:  # "JSON"
        raise ValueError(f"{path.name}: glTF version {version}, {length} of {len(data)} bytes, first chunk not JSON")
    document = json.loads(data[20 : 20 + chunk_length])
    return {"meshes": len(document.get("meshes", [])), "images": len(document.get("images", [])), "bytes": length}


def export_mesh(ctx: StageContext, name: str) -> dict[str, Any]:
    """Deliver the nerfacto mesh and point cloud; the spz stage's metrics for a NeRF."""
    source = ctx.input("splat")
    mesh = source / MESH_GLB
    summary = read_splat_output(mesh, glb_summary, "nerfacto mesh")
    ctx.output.mkdir(parents=True, exist_ok=True)
    glb = ctx.output / f"{name}.glb"
    shutil.copyfile(mesh, glb)
    metrics: dict[str, Any] = {
        "model": "nerfacto",
        "mesh_file": glb.name,
        "glb_bytes": glb.stat().st_size,
        "mesh_meshes": summary["meshes"],
        "mesh_textures": summary["images"],
        "no_spz_reason": NO_SPZ,
        "rotation": "none (the COLMAP model's world)",
    }
    points = source / POINT_CLOUD_PLY
    if points.is_file():
        target = ctx.output / f"{name}_points.ply"
        shutil.copyfile(points, target)
        metrics["points_file"] = target.name
    ctx.log.info("nerfacto: delivering %s (%d bytes); %s", glb.name, metrics["glb_bytes"], NO_SPZ)
    return metrics
