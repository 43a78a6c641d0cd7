"""Feature matching by the job's method: which image pairs are compared, then geometric verification.

sequential: neighbours in frame order (videos); loop detection too when a vocabulary tree is set.
exhaustive: every pair (small sets, unordered photos). spatial: nearest cameras by position prior
(transforms.json centres or EXIF GPS). vocab: visually similar images found with a vocabulary tree.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pycolmap

from gs_stages import s3_files
from gs_stages.sfm.database import position_priors
from gs_stages.sfm.settings import SfmSettings
from gs_stages.stage import StageError

MATCHING_METHODS = ("sequential", "exhaustive", "spatial", "vocab")
#: Nearest cameras matched per image by spatial matching. COLMAP's 50 makes a small capture almost
#: exhaustive; 20 neighbours of a phone orbit or walk still overlap, at under half the matching time.
_SPATIAL_NEIGHBOURS = 20
_SIFT_DIMENSIONS = 128
_VOCAB_HINT = (
    "set the engine setting vocab_tree_path to a COLMAP 4 vocabulary tree (a local file or s3://bucket/key, "
    "built with `colmap vocab_tree_builder`), or choose sfm.matchingMethod sequential or exhaustive"
)


def resolve_vocab_tree(location: str | None, workdir: Path, log: logging.Logger) -> Path:
    """A local vocabulary tree file: the path itself, or a download of an s3:// URI into `workdir`."""
    if not location:
        raise StageError("vocab matching needs a vocabulary tree, and none is configured", hint=_VOCAB_HINT)
    if location.startswith("s3://"):
        path = _download_s3(location, workdir, log)
    else:
        path = Path(location).expanduser()
        if not path.is_file():
            raise StageError(f"the vocabulary tree {location} does not exist", hint=_VOCAB_HINT)
    _check_vocab_tree(path, location)
    return path


def _check_vocab_tree(path: Path, location: str) -> None:
    """Read the tree here, in Python: COLMAP's matcher reads it in a worker thread, where an unreadable
    file (e.g. a COLMAP 3 flann tree) aborts the whole process instead of raising."""
    try:
        index = pycolmap.VisualIndex.read(path)
    except (ValueError, RuntimeError) as exc:
        raise StageError(f"cannot use the vocabulary tree {location}: {exc}", hint=_VOCAB_HINT) from None
    if index.feature_type() != pycolmap.FeatureExtractorType.SIFT or index.desc_dim() != _SIFT_DIMENSIONS:
        raise StageError(
            f"the vocabulary tree {location} is for {index.feature_type()} descriptors of "
            f"{index.desc_dim()} dimensions, not SIFT",
            hint=_VOCAB_HINT,
        )


def _download_s3(uri: str, workdir: Path, log: logging.Logger) -> Path:
    bucket, key = s3_files.split_uri(uri)
    if not bucket or not key:
        raise StageError(f"{uri} is not an s3://bucket/key URI", hint=_VOCAB_HINT)
    target = Path(tempfile.mkdtemp(dir=workdir, prefix="vocab-")) / Path(key).name
    log.info("matching: downloading the vocabulary tree %s", uri)
    try:
        return s3_files.download(uri, target)
    except s3_files.S3FileError as exc:
        raise StageError(f"cannot download the vocabulary tree {uri}: {exc}", hint=_VOCAB_HINT) from None


def _matching_options(settings: SfmSettings) -> pycolmap.FeatureMatchingOptions:
    options = pycolmap.FeatureMatchingOptions()
    options.num_threads = settings.num_threads
    return options


def _spatial_options(database: Path) -> pycolmap.SpatialPairingOptions:
    priors = position_priors(database)
    if not priors:
        raise StageError(
            "spatial matching needs position priors, and no image has one "
            "(no GPS in the photos' EXIF and no transforms.json poses)",
            hint="use sfm.matchingMethod sequential (video) or exhaustive (photos), "
            "or upload photos with GPS / a transforms.json",
        )
    options = pycolmap.SpatialPairingOptions()
    options.max_num_neighbors = _SPATIAL_NEIGHBOURS
    if all(p.coordinate_system == pycolmap.PosePriorCoordinateSystem.CARTESIAN for p in priors):
        # Poses from a capture app: arbitrary units, full 3D. The neighbour count decides, not metres.
        options.ignore_z = False
        options.max_distance = 1e12
    return options


def match_features(
    database: Path,
    method: str,
    settings: SfmSettings,
    log: logging.Logger,
    vocab_tree: Path | None = None,
) -> None:
    """Match and verify; `vocab_tree` is required for vocab and enables loop detection for sequential."""
    matching = _matching_options(settings)
    device = pycolmap.Device.auto
    log.info("matching: %s", method)
    if method == "exhaustive":
        pycolmap.match_exhaustive(database, matching_options=matching, device=device)
    elif method == "sequential":
        pairing = pycolmap.SequentialPairingOptions()
        pairing.num_threads = settings.num_threads
        if vocab_tree is not None:
            pairing.loop_detection = True
            pairing.vocab_tree_path = str(vocab_tree)
        pycolmap.match_sequential(database, matching_options=matching, pairing_options=pairing, device=device)
    elif method == "spatial":
        pairing = _spatial_options(database)
        pairing.num_threads = settings.num_threads
        pycolmap.match_spatial(database, matching_options=matching, pairing_options=pairing, device=device)
    elif method == "vocab":
        if vocab_tree is None:
            raise StageError("vocab matching needs a vocabulary tree, and none is configured", hint=_VOCAB_HINT)
        pairing = pycolmap.VocabTreePairingOptions()
        pairing.num_threads = settings.num_threads
        pairing.vocab_tree_path = str(vocab_tree)
        pycolmap.match_vocabtree(database, matching_options=matching, pairing_options=pairing, device=device)
    else:
        raise StageError(f"unknown matching method {method!r}; expected one of {', '.join(MATCHING_METHODS)}")


def vocab_tree_for(method: str, settings: SfmSettings, workdir: Path, log: logging.Logger) -> Path | None:
    """Resolved before any work, so a missing tree fails in a second, not after feature extraction."""
    if method == "vocab" or (method == "sequential" and settings.vocab_tree_path):
        return resolve_vocab_tree(settings.vocab_tree_path, workdir, log)
    return None
