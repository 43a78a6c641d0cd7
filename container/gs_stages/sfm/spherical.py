"""SfM on the views of 360° frames (sphericalCamera.enable): one known camera, one rig.

The frames stage cut every equirectangular frame into 90° views (frames/spherical.py), so their
intrinsics are exact (PINHOLE, f = size / 2, centred) and so is the rotation between the views of
one frame (they share its centre). Estimating either would only add error, so:
- every view gets that PINHOLE camera, flagged as a prior, and the mappers never refine it;
- the views form a COLMAP rig (pycolmap 4.2's rig configuration): one rig camera per view, each
  with its fixed rotation from the reference view and no translation, and the views of one frame
  are one rig frame with one pose. The mappers then estimate one pose per 360° frame, and
  sequential matching (expand_rig_images, on by default) matches all views of neighbouring frames.
COLMAP ties a rig camera to a camera id, so each view has its own camera id; the parameters are
identical.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pycolmap
from PIL import Image

from gs_stages.frames.spherical import VIEW_ANGLES, face_pinhole, parse_view_name, view_rotation
from gs_stages.sfm.database import open_database
from gs_stages.sfm.features import CameraSetup
from gs_stages.stage import StageError

#: COLMAP's invalid frame id (pycolmap exports no constant for it): the image is in no frame yet.
_NO_FRAME = 2**32 - 1
_RERUN_HINT = "run the frames stage again with the same sphericalCamera settings; it writes <view>_<frame>.jpg"


def view_of_images(names: list[str]) -> dict[str, str]:
    """{image name: view} for the frames of a spherical job; refuses frames that were not split."""
    views: dict[str, str] = {}
    for name in names:
        parsed = parse_view_name(name)
        if parsed is None:
            raise StageError(
                f"sphericalCamera.enable is on, but the frame {name!r} is not a view of a 360° frame",
                hint=_RERUN_HINT,
            )
        views[name] = parsed[0]
    return views


def view_camera(image_dir: Path, names: list[str]) -> CameraSetup:
    """The one PINHOLE camera of every view, from their (square, equal) size."""
    sizes = set()
    for name in names:
        with Image.open(image_dir / name) as image:
            sizes.add(image.size)
    if len(sizes) != 1 or any(width != height for width, height in sizes):
        raise StageError(
            f"the views of the 360° frames must be square and of one size, found {sorted(sizes)}",
            hint=_RERUN_HINT,
        )
    ((size, _),) = sizes
    return CameraSetup(pycolmap.CameraMode.SINGLE, "PINHOLE", face_pinhole(size))


def _rig_config(views: list[str]) -> pycolmap.RigConfig:
    """Rig cameras named by prefix `<view>_`; the first view (in VIEW_ANGLES order) is the reference."""
    reference = view_rotation(views[0])
    cameras = []
    for index, view in enumerate(views):
        camera = pycolmap.RigConfigCamera()
        camera.image_prefix = f"{view}_"
        camera.ref_sensor = index == 0
        if index:
            # cam_from_rig: rig (reference view) → equirect frame → this view.
            rotation = view_rotation(view).T @ reference
            camera.cam_from_rig = pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), np.zeros(3))
        cameras.append(camera)
    config = pycolmap.RigConfig()
    config.cameras = cameras
    return config


def apply_view_rig(database: Path, views_by_name: dict[str, str], log: logging.Logger) -> int:
    """After feature extraction (one shared camera): one camera per view, then the rig; returns its size."""
    views = [v for v in VIEW_ANGLES if v in set(views_by_name.values())]
    with open_database(database) as db:
        images = db.read_all_images()
        shared = db.read_camera(images[0].camera_id)
        shared.has_prior_focal_length = True
        db.update_camera(shared)
        camera_of = {views[0]: shared.camera_id}
        for view in views[1:]:
            copy = pycolmap.Camera(shared.todict())
            copy.camera_id = pycolmap.INVALID_CAMERA_ID  # a new id
            camera_of[view] = db.write_camera(copy)
        # Extraction made a trivial rig and frame per camera and image; the view rig replaces them.
        db.clear_frames()
        db.clear_rigs()
        for image in images:
            image.camera_id = camera_of[views_by_name[image.name]]
            image.frame_id = _NO_FRAME
            db.update_image(image)
        pycolmap.apply_rig_config([_rig_config(views)], db)
        frames = db.num_frames()
    log.info("features: views of the 360° frames form one rig of %d cameras, %d frames", len(views), frames)
    return len(views)
