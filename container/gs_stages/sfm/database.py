"""What the stage writes into or reads from the COLMAP database besides features and matches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pycolmap

from gs_stages.priors.transforms_json import Intrinsics


@contextmanager
def open_database(path: Path) -> Iterator[pycolmap.Database]:
    database = pycolmap.Database.open(path)
    try:
        yield database
    finally:
        database.close()


def image_ids_by_name(path: Path) -> dict[str, int]:
    with open_database(path) as database:
        return {image.name: image.image_id for image in database.read_all_images()}


def write_position_priors(path: Path, centres: Mapping[str, np.ndarray]) -> int:
    """Camera centres from pose priors as CARTESIAN position priors: spatial matching pairs neighbours."""
    written = 0
    with open_database(path) as database:
        for image in database.read_all_images():
            centre = centres.get(image.name)
            if centre is None:
                continue
            sensor = pycolmap.sensor_t(type=pycolmap.SensorType.CAMERA, id=image.camera_id)
            prior = pycolmap.PosePrior(
                position=np.asarray(centre, dtype=float),
                coordinate_system=pycolmap.PosePriorCoordinateSystem.CARTESIAN,
                corr_data_id=pycolmap.data_t(sensor_id=sensor, id=image.image_id),
            )
            database.write_pose_prior(prior)
            written += 1
    return written


def position_priors(path: Path) -> list[pycolmap.PosePrior]:
    with open_database(path) as database:
        return [p for p in database.read_all_pose_priors() if p.has_position()]


def set_intrinsics(path: Path, intrinsics: Mapping[str, Intrinsics]) -> None:
    """Give each image's camera the known intrinsics (needed when images do not share one camera)."""
    with open_database(path) as database:
        for image in database.read_all_images():
            known = intrinsics.get(image.name)
            if known is None:
                continue
            model, params = known.colmap()
            camera = pycolmap.Camera(
                model=model, width=known.width, height=known.height, params=params, camera_id=image.camera_id
            )
            camera.has_prior_focal_length = True
            database.update_camera(camera)


def count_keypoints(path: Path) -> dict[str, int]:
    with open_database(path) as database:
        return {image.name: database.num_keypoints_for_image(image.image_id) for image in database.read_all_images()}


def count_verified_pairs(path: Path) -> int:
    with open_database(path) as database:
        return database.num_verified_image_pairs()


def count_matched_keypoints(path: Path) -> int:
    """Keypoints with at least one geometrically verified match: what triangulation could use at most."""
    with open_database(path) as database:
        pair_ids, geometries = database.read_two_view_geometries()
    matched: set[tuple[int, int]] = set()
    for pair_id, geometry in zip(pair_ids, geometries, strict=True):
        first, second = pycolmap.pair_id_to_image_pair(pair_id)
        inliers = np.asarray(geometry.inlier_matches).reshape(-1, 2)
        matched.update((first, int(i)) for i in inliers[:, 0])
        matched.update((second, int(i)) for i in inliers[:, 1])
    return len(matched)
