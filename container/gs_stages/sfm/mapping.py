"""From verified matches to camera poses and 3D points: the incremental or global mapper, or
triangulation with poses that are already known (pose priors)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pycolmap

from gs_stages.priors.transforms_json import PosedFrame
from gs_stages.progress import ProgressTracker
from gs_stages.sfm.database import open_database
from gs_stages.sfm.settings import SfmSettings

MAPPERS = ("colmap", "glomap")
#: Smallest model the mappers keep; the stage judges the result against the input size afterwards.
_MIN_MODEL_SIZE = 3


def _incremental(
    database: Path,
    image_dir: Path,
    workdir: Path,
    settings: SfmSettings,
    total: int,
    log: logging.Logger,
    known_cameras: bool,
    tracker: ProgressTracker | None = None,
) -> dict[int, pycolmap.Reconstruction]:
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = settings.num_threads
    options.random_seed = settings.random_seed
    options.min_model_size = _MIN_MODEL_SIZE
    if known_cameras:
        options.ba_refine_focal_length = False
        options.ba_refine_principal_point = False
        options.ba_refine_extra_params = False
        options.ba_refine_sensor_from_rig = False
        options.mapper.abs_pose_refine_focal_length = False
        options.mapper.abs_pose_refine_extra_params = False
    registered = 0
    step = max(1, total // 10)

    def next_image() -> None:
        nonlocal registered
        registered += 1
        if registered % step == 0:
            log.info("mapping: %d images registered so far (of %d)", registered, total)
        if tracker is not None:
            tracker.update(registered, {"registered images": registered})

    return pycolmap.incremental_mapping(database, image_dir, workdir, options=options, next_image_callback=next_image)


def _global(
    database: Path, image_dir: Path, workdir: Path, settings: SfmSettings, known_cameras: bool
) -> dict[int, pycolmap.Reconstruction]:
    options = pycolmap.GlobalPipelineOptions()
    options.num_threads = settings.num_threads
    options.random_seed = settings.random_seed
    options.min_model_size = _MIN_MODEL_SIZE
    if known_cameras:
        mapper = options.mapper
        mapper.refine_sensor_from_rig = False
        mapper.rotation_averaging.refine_sensor_from_rig = False
        mapper.global_positioning.refine_sensor_from_rig = False
        mapper.bundle_adjustment.refine_sensor_from_rig = False
        mapper.bundle_adjustment.refine_focal_length = False
        mapper.bundle_adjustment.refine_principal_point = False
        mapper.bundle_adjustment.refine_extra_params = False
    # The global mapper asks for the GPU by default and warns on every solve when there is none.
    use_gpu = pycolmap.has_cuda
    options.mapper.global_positioning.use_gpu = use_gpu
    options.mapper.bundle_adjustment.ceres.use_gpu = use_gpu
    return pycolmap.global_mapping(database, image_dir, workdir, options=options)


def map_poses(
    database: Path,
    image_dir: Path,
    workdir: Path,
    mapper: str,
    settings: SfmSettings,
    total: int,
    log: logging.Logger,
    known_cameras: bool = False,
    tracker: ProgressTracker | None = None,
) -> list[pycolmap.Reconstruction]:
    """Every model the mapper found, largest (most registered images, then points) first.

    `known_cameras` holds intrinsics and rig rotations fixed (the views of 360° frames, whose
    geometry is exact): no focal length, principal point, distortion or sensor_from_rig refinement.
    `tracker` gets the images registered so far (the incremental mapper reports each one; the global
    mapper only its start and end).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    pycolmap.set_random_seed(settings.random_seed)
    log.info("mapping: %s mapper on %d images", "incremental (colmap)" if mapper == "colmap" else "global", total)
    if tracker is not None:
        tracker.update(0, {"registered images": 0})
    if mapper == "colmap":
        models = _incremental(database, image_dir, workdir, settings, total, log, known_cameras, tracker)
    else:
        models = _global(database, image_dir, workdir, settings, known_cameras)
    found = sorted(models.values(), key=lambda m: (m.num_reg_images(), m.num_points3D()), reverse=True)
    if tracker is not None:
        registered = found[0].num_reg_images() if found else 0
        tracker.update(registered, {"registered images": registered, "models": len(found)}, last=True)
    return found


def posed_reconstruction(database: Path, frames: Sequence[PosedFrame]) -> pycolmap.Reconstruction:
    """A model holding the database's cameras and images, each registered at its prior pose, no points yet.

    Image ids are the database's, so triangulation finds each image's features and matches.
    """
    poses = {f.name: f.cam_from_world for f in frames}
    model = pycolmap.Reconstruction()
    with open_database(database) as db:
        images = [i for i in db.read_all_images() if i.name in poses]
        for camera_id in sorted({i.camera_id for i in images}):
            model.add_camera_with_trivial_rig(db.read_camera(camera_id))
        for stored in images:
            image = pycolmap.Image(name=stored.name, camera_id=stored.camera_id, image_id=stored.image_id)
            model.add_image_with_trivial_frame(image, pycolmap.Rigid3d(poses[stored.name][:3, :4]))
    return model


def triangulate_known_poses(
    database: Path, image_dir: Path, workdir: Path, frames: Sequence[PosedFrame], settings: SfmSettings
) -> pycolmap.Reconstruction:
    """3D points from the matches, every pose and intrinsic held fixed (bundle adjustment moves points)."""
    workdir.mkdir(parents=True, exist_ok=True)
    pycolmap.set_random_seed(settings.random_seed)
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = settings.num_threads
    options.random_seed = settings.random_seed
    return pycolmap.triangulate_points(
        posed_reconstruction(database, frames),
        database,
        image_dir,
        workdir,
        clear_points=True,
        options=options,
        refine_intrinsics=False,
    )
