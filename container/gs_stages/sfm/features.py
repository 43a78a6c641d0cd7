"""SIFT feature extraction into a COLMAP database, with the camera set-up each input kind needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from gs_stages.sfm.settings import SfmSettings


@dataclass(frozen=True)
class CameraSetup:
    """How images share cameras, and the intrinsics when they are known (pose priors)."""

    mode: pycolmap.CameraMode
    model: str = "SIMPLE_RADIAL"  # COLMAP's default: one focal length and one radial term, robust to guess
    params: tuple[float, ...] | None = None

    @classmethod
    def for_media(cls, media_kind: str) -> CameraSetup:
        # A video is one camera; photos share a camera when EXIF and size agree (COLMAP's AUTO rule).
        return cls(pycolmap.CameraMode.SINGLE if media_kind == "video" else pycolmap.CameraMode.AUTO)


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


def _colmap_masks(mask_dir: Path, names: list[str], workdir: Path) -> Path | None:
    """COLMAP looks for `<image name>.png`, the masks stage writes `<stem>.png`: link under COLMAP's names."""
    linked = workdir / "masks"
    count = 0
    for name in names:
        mask = mask_dir / f"{Path(name).stem}.png"
        if mask.is_file():
            linked.mkdir(parents=True, exist_ok=True)
            (linked / f"{name}.png").symlink_to(mask.resolve())
            count += 1
    return linked if count else None


def extract_features(
    database: Path,
    image_dir: Path,
    names: list[str],
    camera: CameraSetup,
    enhanced: bool,
    settings: SfmSettings,
    log: logging.Logger,
    mask_dir: Path | None = None,
) -> None:
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = camera.model
    if camera.params is not None:
        reader.camera_params = ",".join(repr(float(v)) for v in camera.params)
    if mask_dir is not None:
        linked = _colmap_masks(mask_dir, names, database.parent)
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
