"""Our frames + COLMAP model (+ masks) -> the folder 3DGRUT's COLMAP dataset reads as it is.

    <data>/sparse/0                  the sparse_model stage's sparse/0 (a link), or, when it holds images
                                     without a pose or cameras no posed image uses, a text copy of the
                                     posed part (3DGRUT would read every image of images.bin as posed)
    <data>/<images>/<name>           the frames (links), <images> = `images` or, downscaled by f,
                                     `images_<f>` (3DGRUT's `get_images_folder`), resized as our loader does
    <data>/<images>/<stem>_mask.png  255 = train on this pixel, 0 = leave it out (3DGRUT's mask convention)

The split needs nothing written: 3DGRUT holds out image i of the name-sorted images when
i % test_split_interval == 0, our own rule (splat/scene.py) once the model holds only posed images, so
`dataset.test_split_interval` = our `test_every` selects the same photos; the adapter returns the split it
expects, and the trainer checks it against the views 3DGRUT evaluated. Masks: as for nerfacto (nerf/
dataset.py writes them), the background the masks stage removed and its people (ignore/) are left out of
the loss; 3DGRUT has no transparent-background loss, so a masked job's background is unconstrained
rather than trained empty, and its held-out metrics are over whole images (3DGRUT's rule).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gs_stages.layout import IMAGES_DIR, SPARSE_DIR
from gs_stages.nerf.dataset import _write_masks
from gs_stages.stage import StageError

MODEL_PATH = "sparse/0"
MASK_SUFFIX = "_mask.png"


@dataclass(frozen=True)
class GrtInput:
    data: Path
    train: list[str]
    test: list[str]
    masks: bool
    downsample_factor: int
    images_folder: str
    filtered_model: bool  # the posed part of the model was written out (unposed images or unused cameras)


def images_folder(factor: int) -> str:
    """3DGRUT's image folder for a downsample factor (`ColmapDataset.get_images_folder`)."""
    return "images" if factor == 1 else f"images_{factor}"


def write_grt_input(
    frames: Path, sparse_model: Path, masks: Path | None, data: Path, test_every: int = 8, factor: int = 1
) -> GrtInput:
    """Lay out `data` for 3DGRUT (see the module docstring); returns the split it will hold out."""
    import pycolmap

    model_dir = Path(sparse_model) / SPARSE_DIR
    if not (model_dir / "cameras.bin").exists() and not (model_dir / "cameras.txt").exists():
        raise StageError(f"no COLMAP model at {model_dir}", hint="run the sparse_model stage first")
    reconstruction = pycolmap.Reconstruction(str(model_dir))
    posed = sorted((im for im in reconstruction.images.values() if im.has_pose), key=lambda im: im.name)
    if len(posed) < 2:
        raise StageError(f"the sparse model has {len(posed)} posed image(s); training needs at least 2")
    names = [im.name for im in posed]
    (data / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    used_cameras = {im.camera_id for im in posed}
    filtered = len(posed) != len(reconstruction.images) or used_cameras != set(reconstruction.cameras)
    if filtered:
        _write_posed_text_model(reconstruction, posed, data / MODEL_PATH)
    else:
        os.symlink(model_dir.resolve(), data / MODEL_PATH, target_is_directory=True)
    source = Path(frames) / IMAGES_DIR
    folder = data / images_folder(factor)
    for name in names:
        _place_image(source / name, folder / name, factor)
    with_masks = False
    if masks is not None:
        full = data / "masks-full"
        with_masks = _write_masks(source, Path(masks), full, names)
        if with_masks:
            for name in names:
                _place_mask(
                    full / (Path(name).stem + ".png"), folder / (os.path.splitext(name)[0] + MASK_SUFFIX), factor
                )
    test = [n for i, n in enumerate(names) if i % test_every == 0]
    train = [n for i, n in enumerate(names) if i % test_every != 0]
    return GrtInput(data, train, test, with_masks, factor, images_folder(factor), filtered)


def _place_image(source: Path, target: Path, factor: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if factor == 1:
        if not source.is_file():
            raise StageError(f"image {source.name!r} of the sparse model is missing at {source}")
        os.symlink(source.resolve(), target)
        return
    image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise StageError(f"image {source.name!r} of the sparse model is missing or unreadable at {source}")
    cv2.imwrite(str(target), _downscaled(image, factor), [cv2.IMWRITE_JPEG_QUALITY, 100])


def _place_mask(source: Path, target: Path, factor: int) -> None:
    if factor == 1:
        os.symlink(source.resolve(), target)
        return
    mask = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(target), np.where(_downscaled(mask, factor) > 127, 255, 0).astype(np.uint8))


def _downscaled(image: np.ndarray, factor: int) -> np.ndarray:
    """1/factor of the size, rounded, by area (the splat loader's `View.downscaled`)."""
    height, width = image.shape[:2]
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _write_posed_text_model(reconstruction, posed: list, target: Path) -> None:
    """COLMAP's text model of the posed images, their cameras and every 3D point (tracks left out)."""
    target.mkdir(parents=True)
    cameras = sorted({im.camera_id for im in posed})
    lines = []
    for camera_id in cameras:
        camera = reconstruction.cameras[camera_id]
        params = " ".join(repr(float(p)) for p in camera.params)
        lines.append(f"{camera_id} {camera.model.name} {camera.width} {camera.height} {params}")
    (target / "cameras.txt").write_text("\n".join(lines) + "\n")
    lines = []
    for image in posed:
        pose = image.cam_from_world()
        x, y, z, w = (float(v) for v in pose.rotation.quat)  # pycolmap: x, y, z, w; COLMAP's text: w first
        t = " ".join(repr(float(v)) for v in pose.translation)
        lines += [f"{image.image_id} {w!r} {x!r} {y!r} {z!r} {t} {image.camera_id} {image.name}", ""]
    (target / "images.txt").write_text("\n".join(lines) + "\n")
    lines = []
    for point_id, point in reconstruction.points3D.items():
        xyz = " ".join(repr(float(v)) for v in point.xyz)
        rgb = " ".join(str(int(v)) for v in point.color)
        lines.append(f"{point_id} {xyz} {rgb} {float(point.error)!r}")
    (target / "points3D.txt").write_text("\n".join(lines) + "\n")
