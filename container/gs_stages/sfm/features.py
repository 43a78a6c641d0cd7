"""SIFT feature extraction into a COLMAP database, with the camera set-up each input kind needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pycolmap
from PIL import Image

from gs_stages.layout import MaskFolders
from gs_stages.sfm.lens import choose_camera_model
from gs_stages.sfm.settings import SfmSettings
from gs_stages.stage import StageError

_MAKE, _MODEL, _EXIF_IFD, _FOCAL_LENGTH = 0x010F, 0x0110, 0x8769, 0x920A


@dataclass(frozen=True)
class CameraSetup:
    """How images share cameras, and the intrinsics when they are known (pose priors)."""

    mode: pycolmap.CameraMode
    model: str = "SIMPLE_RADIAL"  # COLMAP's default: one focal length and one radial term, robust to guess
    params: tuple[float, ...] | None = None

    @classmethod
    def for_frames(cls, image_dir: Path, names: list[str], media_kind: str, model: str = "auto") -> CameraSetup:
        """One shared camera for a video, or for photos whose size and EXIF camera all agree.

        Sharing intrinsics makes them far better determined; COLMAP's AUTO mode would give each
        photo without EXIF its own camera. Mixed photos (other sizes or cameras) keep AUTO. The
        camera model is `sfm/lens.py`'s choice (`model`: the engine setting sfm_camera_model).
        """
        model, _ = choose_camera_model(image_dir, names, model)
        if media_kind == "video" or len({_camera_signature(image_dir / n) for n in names}) == 1:
            return cls(pycolmap.CameraMode.SINGLE, model)
        return cls(pycolmap.CameraMode.AUTO, model)


def _camera_signature(path: Path) -> tuple[object, ...]:
    """Size plus the EXIF make, model and focal length: equal signatures mean one physical camera setting."""
    with Image.open(path) as image:
        exif = image.getexif()
        focal = exif.get_ifd(_EXIF_IFD).get(_FOCAL_LENGTH)
        return (image.size, exif.get(_MAKE), exif.get(_MODEL), str(focal))


def extraction_options(enhanced: bool, settings: SfmSettings) -> pycolmap.FeatureExtractionOptions:
    """SIFT options; `enhanced` adds affine shape estimation and domain size pooling (slower, more robust)."""
    options = pycolmap.FeatureExtractionOptions()
    options.num_threads = settings.num_threads
    options.max_image_size = settings.max_image_size
    options.sift.max_num_features = settings.max_num_features
    if enhanced:
        options.sift.estimate_affine_shape = True
        options.sift.domain_size_pooling = True
    return options


def _colmap_masks(masks: MaskFolders, names: list[str], workdir: Path) -> Path | None:
    """COLMAP looks for `<image name>.png` (0 = no features there); the masks stage writes `<stem>.png`.

    Object masks alone are linked under COLMAP's names. With ignore masks (people), each image gets
    its object mask (or all 255) with the ignored pixels set to 0: a person walking through the scene
    moves between photos, and features on them would pull the poses.
    """
    linked = workdir / "masks"
    count = 0
    for name in names:
        file = f"{Path(name).stem}.png"
        keep = masks.keep / file if masks.keep is not None and (masks.keep / file).is_file() else None
        ignore = masks.ignore / file if masks.ignore is not None and (masks.ignore / file).is_file() else None
        if keep is None and ignore is None:
            continue
        linked.mkdir(parents=True, exist_ok=True)
        count += 1
        if ignore is None:
            (linked / f"{name}.png").symlink_to(keep.resolve())
            continue
        people = cv2.imread(str(ignore), cv2.IMREAD_GRAYSCALE)
        allowed = cv2.imread(str(keep), cv2.IMREAD_GRAYSCALE) if keep is not None else None
        if people is None or (keep is not None and allowed is None):
            raise StageError(
                f"unreadable mask for {name!r} under {ignore.parent.parent}", hint="run the masks stage again"
            )
        allowed = np.full_like(people, 255) if allowed is None else allowed
        cv2.imwrite(str(linked / f"{name}.png"), np.where(people >= 128, 0, allowed).astype(np.uint8))
    return linked if count else None


def extract_features(
    database: Path,
    image_dir: Path,
    names: list[str],
    camera: CameraSetup,
    enhanced: bool,
    settings: SfmSettings,
    log: logging.Logger,
    masks: MaskFolders | None = None,
) -> None:
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = camera.model
    if camera.params is not None:
        reader.camera_params = ",".join(repr(float(v)) for v in camera.params)
    if masks is not None:
        linked = _colmap_masks(masks, names, database.parent)
        if linked is not None:
            reader.mask_path = str(linked)
            log.info("features: masks applied (no features on masked-out pixels)")
    # Affine shape and domain size pooling exist only in the CPU SIFT.
    device = pycolmap.Device.cpu if enhanced else pycolmap.Device.auto
    log.info(
        "features: SIFT%s on %d images with %d threads",
        " (affine shape + domain size pooling)" if enhanced else "",
        len(names),
        settings.num_threads,
    )
    pycolmap.extract_features(
        database,
        image_dir,
        image_names=names,
        camera_mode=camera.mode,
        reader_options=reader,
        extraction_options=extraction_options(enhanced, settings),
        device=device,
    )
