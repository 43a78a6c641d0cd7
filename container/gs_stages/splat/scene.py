"""The training scene: posed pinhole views, their images and masks, and the SfM points, from disk.

Both rasterizers model an ideal pinhole camera, so a COLMAP camera with distortion (SIMPLE_RADIAL,
OPENCV, the fisheye models ...) is undistorted first (`undistort.py`), into one of two pinhole
cameras (engine setting `undistort`):
* "crop" (default): the field's convention, what nerfstudio's and gsplat's COLMAP loaders do: OpenCV's
  `getOptimalNewCameraMatrix(alpha=0)` for the models OpenCV's distortion vector expresses (the radial
  and OPENCV families), then a crop to its valid region. Held-out metrics are then taken over the
  same pixels as theirs. Fisheye and other models fall back to "colmap".
* "colmap": the pinhole camera COLMAP's own undistorter picks (no blank pixels, the whole field of
  view kept, so the image usually grows).
`3dgut` (`keep_lens=True`) skips all of this for the lenses gsplat's unscented transform models
(`lens.py`: the radial and OPENCV families, the OpenCV fisheyes): the photo is used whole, and the
view carries its `Lens`. Other models are undistorted as below even then.
Each output pixel is looked up in the original image through the original camera model; masks take
the same path. Pixels that still map outside the original image are marked invalid and ignored by
the loss and the metrics. So are the pixels the masks stage asked to ignore (`ignore/`, people with
`removeHumanSubject`): they are neither object nor background, so no loss may see them.

Held-out split (the field's convention, as nerfstudio's `eval_mode="interval"` and gsplat's
examples): in image-name order, image i is held out when i % test_every == 0 (every 8th), and
never trained on.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import torch
from PIL import Image
from torch import Tensor

from gs_stages.layout import IMAGES_DIR, SPARSE_DIR, MaskFolders, read_mask_folders
from gs_stages.splat.lens import PINHOLE_MODELS, Lens, from_colmap
from gs_stages.splat.undistort import pinhole_for, undistort_image
from gs_stages.stage import StageError

log = logging.getLogger("gs_stages.splat")

#: nerfstudio's COLMAP data parser downscales until the longest side is at most this.
MAX_AUTO_RESOLUTION = 1600


@dataclass
class View:
    """One posed image, at the resolution training uses (after undistortion and downscaling)."""

    name: str
    image: Tensor  # (H, W, 3) uint8
    viewmat: Tensor  # (4, 4) float32, world -> camera (OpenCV axes: x right, y down, z forward)
    K: Tensor  # (3, 3) float32, pixel centres at +0.5 (COLMAP's convention, and gsplat's)
    mask: Tensor | None = None  # (H, W) uint8, 255 = object (keep), 0 = removed background
    valid: Tensor | None = None  # (H, W) bool, False where undistortion had no source pixel
    lens: Lens | None = None  # 3dgut: the lens this image is rendered through (unscented transform); None: EWA

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]

    def downscaled(self, factor: int) -> View:
        """This view at 1/factor resolution (nerfstudio's coarse-to-fine schedule)."""
        if factor == 1:
            return self
        width, height = max(1, round(self.width / factor)), max(1, round(self.height / factor))
        return View(
            name=self.name,
            image=_resize(self.image, width, height),
            viewmat=self.viewmat,
            K=_scale_intrinsics(self.K, width / self.width, height / self.height),
            mask=_resize(self.mask, width, height) if self.mask is not None else None,
            valid=_resize(self.valid.to(torch.uint8) * 255, width, height) > 254 if self.valid is not None else None,
            lens=self.lens,
        )


@dataclass
class Scene:
    train: list[View]
    test: list[View]
    points: np.ndarray  # (P, 3) float32 SfM points
    colors: np.ndarray  # (P, 3) uint8
    scene_scale: float  # largest camera distance from the cameras' mean; nerfstudio's unit length
    downscale: int
    undistorted: bool
    masks_enabled: bool
    ignore_masks: bool = False  # ignore/ masks were read (their pixels are invalid)

    @property
    def views(self) -> list[View]:
        return self.train + self.test


def load_scene(
    frames_dir: Path,
    sparse_dir: Path,
    masks_dir: Path | None = None,
    downscale: int | str = "auto",
    test_every: int = 8,
    undistort: str = "crop",
    max_side: int = MAX_AUTO_RESOLUTION,
    keep_lens: bool = False,
) -> Scene:
    """Read the COLMAP model under `<sparse_dir>/sparse/0`, images under `<frames_dir>/images`; "auto"
    downscaling brings the longest side to <= `max_side`; `keep_lens` (3dgut): no undistortion where
    the lens model allows."""
    model_dir = Path(sparse_dir) / SPARSE_DIR
    if not (model_dir / "cameras.bin").exists() and not (model_dir / "cameras.txt").exists():
        raise StageError(
            f"no COLMAP model at {model_dir}",
            hint="run the sparse_model stage first, or check --input sparse_model",
        )
    reconstruction = pycolmap.Reconstruction(str(model_dir))
    images = sorted((im for im in reconstruction.images.values() if im.has_pose), key=lambda im: im.name)
    if len(images) < 2:
        raise StageError(f"the sparse model has {len(images)} posed image(s); training needs at least 2")
    if reconstruction.num_points3D() == 0:
        raise StageError("the sparse model has no 3D points to start the Gaussians from")
    folders = mask_sources(masks_dir)
    masks, ignore = folders.keep, folders.ignore

    image_dir = Path(frames_dir) / IMAGES_DIR
    if downscale == "auto":
        downscale = _auto_downscale([_image_size(image_dir / im.name) for im in images], max_side)
    factor = int(downscale)
    # One image at a time at full resolution: a few hundred 4K frames would not fit in memory at once.
    views = [
        _read_view(im, reconstruction.cameras[im.camera_id], image_dir, masks, undistort, ignore, keep_lens).downscaled(
            factor
        )
        for im in images
    ]
    undistorted = any(
        reconstruction.cameras[im.camera_id].model.name not in PINHOLE_MODELS and v.lens is None
        for im, v in zip(images, views, strict=True)
    )
    test = [v for i, v in enumerate(views) if i % test_every == 0]
    train = [v for i, v in enumerate(views) if i % test_every != 0]

    xyz = np.array([p.xyz for p in reconstruction.points3D.values()], dtype=np.float32)
    rgb = np.array([p.color for p in reconstruction.points3D.values()], dtype=np.uint8)
    centres = np.array([im.projection_center() for im in images])
    scale = float(np.linalg.norm(centres - centres.mean(0), axis=1).max())
    if scale < 1e-8:  # all cameras at one spot (a tripod pan): fall back to the points' extent
        scale = float(np.linalg.norm(xyz - centres.mean(0), axis=1).max())
    log.info(
        "scene: %d train / %d held-out views at %dx%d (downscale %d%s), %d points, scale %.3g",
        len(train), len(test), views[0].width, views[0].height, factor,
        ", undistorted" if undistorted else "", len(xyz), scale,
    )  # fmt: skip
    return Scene(train, test, xyz, rgb, scale, factor, undistorted, masks is not None, ignore is not None)


def mask_sources(masks_dir: Path | None) -> MaskFolders:
    try:
        return read_mask_folders(masks_dir)
    except ValueError as exc:
        raise StageError(str(exc), hint="run the masks stage again") from None


def _read_view(
    image: pycolmap.Image,
    camera: pycolmap.Camera,
    image_dir: Path,
    masks: Path | None,
    undistort: str = "crop",
    ignore: Path | None = None,
    keep_lens: bool = False,
) -> View:
    path = image_dir / image.name
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise StageError(f"image {image.name!r} of the sparse model is missing or unreadable at {path}")
    pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    mask = _read_mask(masks, image.name) if masks is not None else None
    # 255 where training may look: everywhere, except the pixels the masks stage asked to ignore.
    usable = 255 - _read_mask(ignore, image.name) if ignore is not None else None
    height, width = pixels.shape[:2]
    if (camera.width, camera.height) != (width, height):
        # The frames were resized after SfM (or SfM ran on smaller copies): scale the camera along.
        camera = pycolmap.Camera(camera.todict())
        camera.rescale(width, height)
    valid = usable == 255 if usable is not None else None
    lens = from_colmap(camera.model.name, camera.params) if keep_lens else None
    if lens is None and camera.model.name not in PINHOLE_MODELS:
        pinhole = pinhole_for(camera, undistort)
        camera, pixels, mask, valid = undistort_image(camera, pinhole, pixels, mask, usable)
        lens = Lens() if keep_lens else None  # 3dgut renders it as the pinhole it now is
    viewmat = np.eye(4, dtype=np.float32)
    viewmat[:3] = image.cam_from_world().matrix()
    return View(
        name=image.name,
        image=torch.from_numpy(np.ascontiguousarray(pixels)),
        viewmat=torch.from_numpy(viewmat),
        K=torch.from_numpy(camera.calibration_matrix().astype(np.float32)),
        mask=torch.from_numpy(mask) if mask is not None else None,
        valid=torch.from_numpy(valid) if valid is not None else None,
        lens=lens,
    )


def _read_mask(masks: Path, name: str) -> np.ndarray:
    candidates = [masks / (Path(name).stem + ".png"), masks / (name + ".png")]
    for candidate in candidates:
        mask = cv2.imread(str(candidate), cv2.IMREAD_GRAYSCALE)
        if mask is not None:
            return mask
    raise StageError(f"masks are enabled but {candidates[0]} is missing", hint="re-run the masks stage")


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        raise StageError(f"image {path.name!r} of the sparse model is missing or unreadable at {path}") from None


def _auto_downscale(sizes: list[tuple[int, int]], max_side: int = MAX_AUTO_RESOLUTION) -> int:
    """nerfstudio's rule: the smallest power of two that brings the longest side to <= `max_side` (1600 px)."""
    longest = max(max(size) for size in sizes)
    return 2 ** max(0, math.ceil(math.log2(longest / max_side)))


def _resize(image: Tensor, width: int, height: int) -> Tensor:
    resized = cv2.resize(image.numpy(), (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(resized)


def _scale_intrinsics(K: Tensor, sx: float, sy: float) -> Tensor:
    """Scale a pinhole K to a resized image; with pixel centres at +0.5 the principal point scales too."""
    scaled = K.clone()
    scaled[0] *= sx
    scaled[1] *= sy
    return scaled
