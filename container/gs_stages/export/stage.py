"""The `spz` stage: the trained `splat.ply` → the delivered `<name>.ply`, `<name>.spz`, `<name>.sog`,
`<name>.mp4` (fly-through), `<name>.png` (thumbnail) and `cameras.json`.

Both files are written from one in-memory splat, after the optional rotation, so they cannot differ
in orientation (the reference system's defect). The rotation matrix goes into the metrics, so anyone
holding the files can map them back to the training (camera) coordinates with its transpose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gs_stages.export.cameras import CAMERAS_JSON, read_cameras, rotate_cameras, write_cameras
from gs_stages.export.media_outputs import write_media
from gs_stages.export.ply import read_ply, write_ply
from gs_stages.export.rotate import VIEWER_ROTATION_DESC, rotate_gaussians, viewer_rotation
from gs_stages.export.settings import ExportSettings
from gs_stages.export.sog import write_sog
from gs_stages.export.source import read_splat_output
from gs_stages.export.spz import fractional_bits_for, write_spz
from gs_stages.layout import SPLAT_PLY
from gs_stages.stage import StageContext, StageError


def output_name(ctx: StageContext) -> str:
    """The delivered files' base name: the `output_name` setting, else the job uuid."""
    name = ExportSettings.from_mapping(ctx.settings).output_name or ctx.spec.uuid
    return name


def run(ctx: StageContext) -> dict[str, Any]:
    if not ctx.spec.training.enable:  # nothing was trained: the job's result is its SfM model
        from gs_stages.export.sparse import export_sparse

        ctx.output.mkdir(parents=True, exist_ok=True)
        return export_sparse(ctx, output_name(ctx))
    if ctx.spec.training.model == "nerfacto":  # a NeRF: its textured mesh, no .spz (export/mesh.py)
        from gs_stages.export.mesh import export_mesh

        return export_mesh(ctx, output_name(ctx))
    source = ctx.input("splat") / SPLAT_PLY
    g = read_splat_output(source, read_ply, "trained splat")
    if len(g) == 0:
        raise StageError(f"{source} holds no Gaussians", hint="check the splat stage's training metrics")

    rotate = ctx.spec.training.rotate_splat
    rotation = viewer_rotation() if rotate else np.eye(3)
    if rotate:
        ctx.log.info("rotating %d Gaussians: %s", len(g), VIEWER_ROTATION_DESC)
        g = rotate_gaussians(g, rotation)

    name = output_name(ctx)
    ctx.output.mkdir(parents=True, exist_ok=True)
    settings = ExportSettings.from_mapping(ctx.settings)
    antialiased, version = settings.antialiased, settings.spz_version
    try:
        spz_path = write_spz(ctx.output / f"{name}.spz", g, antialiased=antialiased, version=version)
    except ValueError as exc:
        raise StageError(f"cannot write the .spz: {exc}", hint="check the trained splat for NaNs") from exc
    ply_path = write_ply(ctx.output / f"{name}.ply", g)
    cameras = _export_cameras(ctx, rotation, "as the .ply and .spz")
    extras = write_media(ctx, g, cameras, name)
    if ctx.spec.post_processing.enable_sog:
        extras.update(write_sog(ply_path, ctx.output / f"{name}.sog", ctx.settings))
    else:
        extras["sog"] = f"off (job: {ctx.spec.user_path('postProcessing.enableSog')} false)"
    return {
        **extras,
        "cameras": len(cameras),
        "gaussians": len(g),
        "sh_degree": g.degree,
        "ply_file": ply_path.name,
        "ply_bytes": ply_path.stat().st_size,
        "spz_file": spz_path.name,
        "spz_bytes": spz_path.stat().st_size,
        "spz_version": version,
        "spz_fractional_bits": fractional_bits_for(g.means),
        "spz_antialiased": antialiased,
        "spz_axes": "same as the .ply (no SPZ coordinate conversion)",
        "rotation_applied": rotate,
        "rotation_matrix": rotation.tolist(),
        "rotation": VIEWER_ROTATION_DESC if rotate else "none (training coordinates)",
    }


def _export_cameras(ctx: StageContext, rotation: np.ndarray, axes: str) -> list[dict[str, Any]]:
    """The splat stage's capture cameras, rotated as the Gaussians, beside the delivered files.

    A splat trained before cameras were exported has none: the viewer then opens at a default view."""
    source = ctx.input("splat") / CAMERAS_JSON
    if not source.is_file():
        ctx.log.warning("no %s in the splat stage's output: the viewer opens at a default view", CAMERAS_JSON)
        return []
    try:
        data = rotate_cameras(read_cameras(source), rotation, axes)
    except (ValueError, KeyError, TypeError) as exc:  # not fatal: the splat itself is fine
        ctx.log.warning("cameras not exported (%s): the viewer opens at a default view", exc)
        return []
    write_cameras(ctx.output / CAMERAS_JSON, data["cameras"], data["axes"])
    return list(data["cameras"])
