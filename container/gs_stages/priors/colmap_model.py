"""Read a COLMAP model that came with the images and express it in the frames stage's terms.

The model is used as given (no re-estimation): only image names change to the frames' output names,
and cameras and 2D observations are scaled when the frames stage downscaled the images. Images of
the model that are not among the frames are left out (with their observations), and said so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pycolmap

from gs_stages.layout import FrameRecord, FramesManifest
from gs_stages.priors.frame_names import FrameNameIndex
from gs_stages.stage import StageError

#: The files that make a folder a COLMAP model (binary or text).
_REQUIRED_STEMS = ("cameras", "images")
_ASPECT_TOLERANCE = 0.01


@dataclass
class ColmapPrior:
    reconstruction: pycolmap.Reconstruction
    model_dir: Path
    listed: int  # registered images in the given model
    missing: list[str] = field(default_factory=list)  # model image names with no image among the frames
    unposed: list[str] = field(default_factory=list)  # frames' images the model does not register


def _is_model_dir(folder: Path) -> bool:
    return all(any((folder / f"{stem}{suffix}").is_file() for suffix in (".bin", ".txt")) for stem in _REQUIRED_STEMS)


def find_model_dir(root: Path) -> Path | None:
    """The shallowest folder under `root` (itself too) with cameras.* and images.*: sparse/ or sparse/0/."""
    if not root.is_dir():
        return None
    candidates = [
        root,
        *sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: (len(p.parts), str(p))),
    ]
    return next((folder for folder in candidates if _is_model_dir(folder)), None)


def _read(model_dir: Path) -> pycolmap.Reconstruction:
    try:
        return pycolmap.Reconstruction(model_dir)
    except (ValueError, RuntimeError) as exc:
        raise StageError(
            f"cannot read the COLMAP model in the zip ({model_dir.name}/): {exc}",
            hint="export the model again from COLMAP (File > Export model, binary or text) with "
            "cameras, images and points3D files",
        ) from None


def _camera_scale(camera: pycolmap.Camera, records: list[FrameRecord]) -> tuple[int, int]:
    """The written size of this camera's images; they must agree with each other and with its aspect."""
    sizes = {(r.width, r.height) for r in records}
    if len(sizes) > 1:
        raise StageError(
            f"COLMAP camera {camera.camera_id} is shared by images the frames stage wrote at "
            f"different sizes {sorted(sizes)}",
            hint="give each image size its own camera in the COLMAP model",
        )
    width, height = sizes.pop()
    if abs(width / height - camera.width / camera.height) > _ASPECT_TOLERANCE:
        raise StageError(
            f"COLMAP camera {camera.camera_id} is {camera.width}x{camera.height}, but its images are "
            f"{records[0].source_width}x{records[0].source_height} (another shape)",
            hint="upload the images the model was made from, unrotated and uncropped",
        )
    return width, height


def load_colmap_prior(priors_dir: Path, manifest: FramesManifest, log: logging.Logger) -> ColmapPrior:
    """The zip's model with frames' image names, scaled to the written image sizes."""
    model_dir = find_model_dir(priors_dir)
    if model_dir is None:
        raise StageError(
            f"no COLMAP model (cameras.bin/.txt and images.bin/.txt) under {priors_dir}",
            hint="put the model in sparse/ or sparse/0/ in the zip, or turn usePosePriorColmapModelFiles off",
        )
    given = _read(model_dir)
    index = FrameNameIndex(manifest.frames)
    kept: dict[int, FrameRecord] = {}
    missing: list[str] = []
    for image_id in sorted(given.reg_image_ids()):
        image = given.image(image_id)
        record = index.resolve(image.name)
        if record is None:
            missing.append(image.name)
        else:
            kept[image_id] = record
    if missing:
        log.warning(
            "the COLMAP model registers %d image(s) that are not among the frames; left out: %s",
            len(missing),
            ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else ""),
        )
    if not kept:
        raise StageError(
            f"none of the {given.num_reg_images()} images of the COLMAP model is among the uploaded images",
            hint="the image names in images.bin/.txt must match the files in the zip's images/ folder",
        )

    model = pycolmap.Reconstruction()
    scales: dict[int, tuple[float, float]] = {}
    for camera_id in sorted({given.image(i).camera_id for i in kept}):
        camera = given.camera(camera_id)
        width, height = _camera_scale(camera, [r for i, r in kept.items() if given.image(i).camera_id == camera_id])
        scales[camera_id] = (width / camera.width, height / camera.height)
        scaled = pycolmap.Camera(
            model=camera.model,
            width=camera.width,
            height=camera.height,
            params=camera.params,
            camera_id=camera_id,
        )
        scaled.rescale(width, height)
        model.add_camera_with_trivial_rig(scaled)

    for image_id, record in kept.items():
        image = given.image(image_id)
        sx, sy = scales[image.camera_id]
        keypoints = np.array([p.xy for p in image.points2D], dtype=float).reshape(-1, 2) * [sx, sy]
        renamed = pycolmap.Image(name=record.name, keypoints=keypoints, camera_id=image.camera_id, image_id=image_id)
        model.add_image_with_trivial_frame(renamed, image.cam_from_world())

    for point in given.points3D.values():
        elements = [e for e in point.track.elements if e.image_id in kept]
        if len(elements) >= 2:  # a point seen once has no depth: COLMAP models never hold one
            model.add_point3D(point.xyz, pycolmap.Track(elements), point.color)
    model.update_point_3d_errors()

    names = {r.name for r in kept.values()}
    unposed = [r.name for r in manifest.frames if r.name not in names]
    if unposed:
        log.warning("%d frame(s) are not registered in the COLMAP model and are left out", len(unposed))
    return ColmapPrior(model, model_dir, listed=given.num_reg_images(), missing=missing, unposed=unposed)
