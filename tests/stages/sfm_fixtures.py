"""Frames directories for the SfM and pose-prior tests, built from the shared test data.

Each helper writes what the frames stage would (downscaled images/000000.jpg..., manifest.json
through gs_stages.layout, priors/ copied as given) so these tests do not depend on the frames code.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pycolmap
from PIL import Image, ImageOps

from gs_stages.cli import run_stage
from gs_stages.jobspec import JobSpec
from gs_stages.layout import IMAGES_DIR, PRIORS_DIR, TRANSFORMS_JSON, FrameRecord, FramesManifest
from tests.shared_data import DATA

KERMIT = DATA / "kermit"
FOX = DATA / "fox"
STATUE = DATA / "statue_of_liberty_colmap"


def write_frames(
    frames_dir: Path,
    members: list[tuple[Path, str]],
    max_side: int,
    media_kind: str = "archive",
    priors: str | None = None,
    priors_source: str | None = None,
) -> FramesManifest:
    """Downscale each (file, zip member path) to `max_side` and write it as the frames stage does."""
    images = frames_dir / IMAGES_DIR
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for index, (path, member) in enumerate(members):
        with Image.open(path) as opened:
            exif = opened.info.get("exif")  # kept, as the frames stage does: focal length and GPS for SfM
            image = ImageOps.exif_transpose(opened).convert("RGB")
        width, height = image.size
        scale = min(1.0, max_side / max(height, width))
        size = (round(width * scale), round(height * scale))
        if scale < 1.0:
            image = image.resize(size, Image.Resampling.LANCZOS)
        name = f"{index:06d}.jpg"
        image.save(images / name, quality=92, **({"exif": exif} if exif else {}))
        records.append(FrameRecord(name, member, size[0], size[1], width, height, sharpness=0.0))
    manifest = FramesManifest(media_kind, "media.zip", records, priors=priors, priors_source=priors_source)
    manifest.write(frames_dir)
    return manifest


def kermit_frames(frames_dir: Path, max_side: int = 640) -> FramesManifest:
    files = sorted(KERMIT.glob("*.jpg"))
    return write_frames(frames_dir, [(p, f"kermit/{p.name}") for p in files], max_side)


def fox_frames(frames_dir: Path, max_side: int = 640, with_priors: bool = True) -> FramesManifest:
    """The 50 fox images as members fox/images/NNNN.jpg, with fox/transforms.json copied to priors/."""
    files = sorted((FOX / "images").glob("*.jpg"))
    members = [(p, f"fox/images/{p.name}") for p in files]
    if not with_priors:
        return write_frames(frames_dir, members, max_side)
    (frames_dir / PRIORS_DIR).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FOX / TRANSFORMS_JSON, frames_dir / PRIORS_DIR / TRANSFORMS_JSON)
    return write_frames(frames_dir, members, max_side, priors="transforms_json", priors_source="fox/transforms.json")


def statue_frames(frames_dir: Path, max_side: int = 600, model_files: str = ".bin", subdir: str = "") -> FramesManifest:
    """The statue photos with its COLMAP model (only the `model_files` kind) under priors/sparse/<subdir>."""
    model = frames_dir / PRIORS_DIR / "sparse" / subdir
    model.mkdir(parents=True, exist_ok=True)
    for path in (STATUE / "sparse" / "0").glob(f"*{model_files}"):
        shutil.copyfile(path, model / path.name)
    files = sorted((STATUE / "images").glob("*.jpg"))
    members = [(p, f"statue/images/{p.name}") for p in files]
    return write_frames(frames_dir, members, max_side, priors="colmap_model", priors_source="statue/sparse/0")


def run_sparse(spec: JobSpec, frames_dir: Path, output: Path, **settings: Any) -> dict[str, Any]:
    """Run the sparse_model stage in-process through the CLI's runner (which writes metrics.json)."""
    return run_stage("sparse_model", spec, {"frames": frames_dir}, output, settings)


def build_vocab_tree(image_dir: Path, target: Path, num_visual_words: int = 256) -> Path:
    """A small COLMAP 4 vocabulary tree trained on the images' own SIFT descriptors (a real tree file)."""
    with tempfile.TemporaryDirectory() as scratch:
        database_path = Path(scratch) / "vocab.db"
        options = pycolmap.FeatureExtractionOptions()
        options.num_threads = 2
        options.sift.max_num_features = 2048  # plenty to train 256 words, and quick
        pycolmap.extract_features(database_path, image_dir, extraction_options=options)
        database = pycolmap.Database.open(database_path)
        descriptors = np.concatenate(
            [database.read_descriptors(i.image_id).to_float().data for i in database.read_all_images()]
        )
        database.close()
    index = pycolmap.VisualIndex.create(128, 64)
    options = pycolmap.VisualIndex.BuildOptions()
    options.num_visual_words = num_visual_words
    options.num_iterations = 20
    options.num_rounds = 1
    options.num_threads = 2
    index.build(options, pycolmap.FeatureDescriptorsFloat(pycolmap.FeatureExtractorType.SIFT, descriptors))
    index.write(target)
    return target


def sparse_model(output: Path) -> pycolmap.Reconstruction:
    return pycolmap.Reconstruction(output / "sparse" / "0")
