"""Our frames + COLMAP model (+ masks) -> a folder nerfstudio's `colmap` dataparser reads as it is.

    <data>/images            -> the frames stage's images/ (a link: nothing is copied)
    <data>/colmap/sparse/0   -> the sparse_model stage's sparse/0 (a link)
    <data>/masks/<stem>.png  255 = train on this pixel, 0 = leave it out (nerfstudio's mask meaning)
    <data>/{train,val,test}_list.txt   our held-out split, by image name

The split is ours, not nerfstudio's interval rule (which counts in COLMAP's image-id order): in image-name
order image i is held out when i % test_every == 0, as the splat models' (splat/scene.py), so every
model's held-out PSNR is measured on the same photos. nerfstudio's masks exclude pixels from the loss;
a NeRF has no transparent background to train, so the masks stage's removed background and its people
(ignore/) are both left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gs_stages.layout import IMAGES_DIR, SPARSE_DIR
from gs_stages.splat.scene import mask_sources
from gs_stages.stage import StageError

COLMAP_PATH = "colmap/sparse/0"
MASKS_PATH = "masks"
# nerfstudio reads `<split>_list.txt` for the split it asks for: train, val (while training), test (ns-eval).
SPLIT_FILES = {"train": "train_list.txt", "val": "val_list.txt", "test": "test_list.txt"}


@dataclass(frozen=True)
class NerfInput:
    data: Path
    train: list[str]
    test: list[str]
    masks: bool


def posed_names(model_dir: Path) -> list[str]:
    """The names of the images the COLMAP model posed, in name order."""
    import pycolmap

    reconstruction = pycolmap.Reconstruction(str(model_dir))
    return sorted(im.name for im in reconstruction.images.values() if im.has_pose)


def write_nerf_input(
    frames: Path, sparse_model: Path, masks: Path | None, data: Path, test_every: int = 8
) -> NerfInput:
    """Lay out `data` for nerfstudio (see the module docstring); returns the split it wrote."""
    model_dir = Path(sparse_model) / SPARSE_DIR
    if not (model_dir / "cameras.bin").exists() and not (model_dir / "cameras.txt").exists():
        raise StageError(f"no COLMAP model at {model_dir}", hint="run the sparse_model stage first")
    names = posed_names(model_dir)
    if len(names) < 2:
        raise StageError(f"the sparse model has {len(names)} posed image(s); training needs at least 2")
    images = Path(frames) / IMAGES_DIR
    (data / COLMAP_PATH).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(images.resolve(), data / "images", target_is_directory=True)
    os.symlink(model_dir.resolve(), data / COLMAP_PATH, target_is_directory=True)
    test = [n for i, n in enumerate(names) if i % test_every == 0]
    train = [n for i, n in enumerate(names) if i % test_every != 0]
    for split, file in SPLIT_FILES.items():
        (data / file).write_text("\n".join(train if split == "train" else test) + "\n")
    with_masks = _write_masks(images, masks, data / MASKS_PATH, names) if masks is not None else False
    return NerfInput(data=data, train=train, test=test, masks=with_masks)


def _write_masks(images: Path, masks_dir: Path, target: Path, names: list[str]) -> bool:
    """nerfstudio's masks (255 = used) from the masks stage's keep and ignore masks; False without either."""
    folders = mask_sources(masks_dir)
    if folders.keep is None and folders.ignore is None:
        return False
    target.mkdir(parents=True)
    for name in names:
        stem = Path(name).stem + ".png"
        used: np.ndarray | None = None
        if folders.keep is not None:
            used = _read(folders.keep / stem) > 127
        if folders.ignore is not None:
            person = _read(folders.ignore / stem) > 127
            used = ~person if used is None else used & ~person
        assert used is not None
        cv2.imwrite(str(target / stem), np.where(used, 255, 0).astype(np.uint8))
    return True


def _read(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise StageError(f"mask {path} is missing or unreadable", hint="run the masks stage again")
    return mask
