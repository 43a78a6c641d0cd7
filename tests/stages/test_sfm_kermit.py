"""SfM on kermit (11 photos, 640x480): each mapper, each matching method, and their clear failures."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from gs_stages.cli import run_stage
from gs_stages.sfm.matching import resolve_vocab_tree
from gs_stages.stage import StageError

from .jobs import make_spec
from .sfm_fixtures import FOX, KERMIT, build_vocab_tree, kermit_frames, run_sparse, sparse_model, write_frames

LOG = logging.getLogger("gs_stages.test")


@pytest.fixture(scope="module")
def kermit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = tmp_path_factory.mktemp("kermit")
    kermit_frames(frames)
    return frames


@pytest.fixture(scope="module")
def vocab_tree(kermit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vocab_tree(kermit / "images", tmp_path_factory.mktemp("vocab") / "kermit-vocab.bin")


def _assert_good_model(frames: Path, output: Path, metrics: dict, min_registered: int = 10) -> None:
    assert metrics["registered_images"] >= min_registered and metrics["input_images"] == 11
    assert 0 < metrics["mean_reprojection_error_px"] < 2.0
    assert metrics["mean_track_length"] > 2.0
    model = sparse_model(output)
    assert model.num_reg_images() == metrics["registered_images"]
    assert model.num_points3D() == metrics["points3d"] >= 200
    written = {p.name for p in (frames / "images").iterdir()}
    assert {i.name for i in model.images.values()} <= written
    for stem in ("cameras", "images", "points3D"):
        assert (output / "sparse" / "0" / f"{stem}.bin").is_file()
        assert (output / "sparse" / "0" / f"{stem}.txt").is_file()
    assert json.loads((output / "metrics.json").read_text())["registered_images"] == metrics["registered_images"]


def test_exhaustive_incremental(kermit: Path, tmp_path: Path) -> None:
    spec = make_spec(**{"sfm.matchingMethod": "exhaustive", "sfm.softwareName": "colmap"})
    metrics = run_sparse(spec, kermit, tmp_path / "out")
    _assert_good_model(kermit, tmp_path / "out", metrics)
    assert metrics["verified_pairs"] >= 30
    assert set(metrics["timings_s"]) >= {"features", "matching", "mapping", "write"}
    assert metrics["cameras"] == 1  # one camera: same size and EXIF camera on every photo


def test_sequential_global(kermit: Path, tmp_path: Path) -> None:
    spec = make_spec(**{"sfm.matchingMethod": "sequential", "sfm.softwareName": "glomap"})
    metrics = run_sparse(spec, kermit, tmp_path / "out")
    _assert_good_model(kermit, tmp_path / "out", metrics)
    assert metrics["mapper"] == "glomap"


def test_vocab_tree_matching(kermit: Path, vocab_tree: Path, tmp_path: Path) -> None:
    spec = make_spec(**{"sfm.matchingMethod": "vocab", "sfm.softwareName": "colmap"})
    metrics = run_sparse(spec, kermit, tmp_path / "out", vocab_tree_path=str(vocab_tree))
    _assert_good_model(kermit, tmp_path / "out", metrics)


def test_enhanced_features_on_a_few_small_photos(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    files = sorted(KERMIT.glob("*.jpg"))[:6]
    write_frames(frames, [(p, p.name) for p in files], max_side=400)
    spec = make_spec(**{"sfm.matchingMethod": "exhaustive", "sfm.enableEnhancedFeatureExtraction": True})
    metrics = run_sparse(spec, frames, tmp_path / "out")
    assert metrics["enhanced_features"] is True
    assert metrics["registered_images"] >= 5 and metrics["points3d"] >= 100


def test_vocab_matching_without_a_tree_fails_before_any_work(kermit: Path, tmp_path: Path) -> None:
    spec = make_spec(**{"sfm.matchingMethod": "vocab"})
    with pytest.raises(StageError, match="needs a vocabulary tree") as error:
        run_sparse(spec, kermit, tmp_path / "out")
    assert "vocab_tree_path" in str(error.value) and "exhaustive" in str(error.value)
    with pytest.raises(StageError, match="does not exist"):
        run_sparse(spec, kermit, tmp_path / "out", vocab_tree_path=str(tmp_path / "nowhere.bin"))
    assert not (tmp_path / "out" / "sparse").exists()


def test_an_unreadable_vocab_tree_is_named(kermit: Path, tmp_path: Path) -> None:
    """A flann-era (COLMAP 3) tree or a broken download: a clear error, not an aborted process."""
    legacy = tmp_path / "vocab_tree_flickr100K_words32K.bin"
    legacy.write_bytes(b"\x00" * 4096)
    spec = make_spec(**{"sfm.matchingMethod": "vocab"})
    with pytest.raises(StageError, match=r"cannot use the vocabulary tree .*flickr100K"):
        run_sparse(spec, kermit, tmp_path / "out", vocab_tree_path=str(legacy))


def test_vocab_tree_from_s3(vocab_tree: Path, tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="trees")
        s3.upload_file(str(vocab_tree), "trees", "colmap/kermit-vocab.bin")
        local = resolve_vocab_tree("s3://trees/colmap/kermit-vocab.bin", tmp_path, LOG)
        assert local.read_bytes() == vocab_tree.read_bytes()
        with pytest.raises(StageError, match=r"cannot download the vocabulary tree s3://trees/missing\.bin"):
            resolve_vocab_tree("s3://trees/missing.bin", tmp_path, LOG)


def test_spatial_matching_without_position_priors_says_so(kermit: Path, tmp_path: Path) -> None:
    spec = make_spec(**{"sfm.matchingMethod": "spatial"})
    with pytest.raises(StageError, match="spatial matching needs position priors") as error:
        run_sparse(spec, kermit, tmp_path / "out")
    assert "exhaustive" in str(error.value)


def test_two_scenes_give_two_models_and_the_largest_is_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """11 kermit photos plus 6 fox frames: two separate models; kermit's (the larger) becomes sparse/0."""
    frames = tmp_path / "frames"
    kermit_files = sorted(KERMIT.glob("*.jpg"))
    fox_files = sorted((FOX / "images").glob("*.jpg"))[:6]
    members = [(p, f"kermit/{p.name}") for p in kermit_files] + [(p, f"fox/{p.name}") for p in fox_files]
    write_frames(frames, members, max_side=640)
    spec = make_spec(**{"sfm.matchingMethod": "exhaustive", "sfm.softwareName": "colmap"})
    with caplog.at_level(logging.WARNING):
        metrics = run_sparse(spec, frames, tmp_path / "out")
    assert metrics["models_found"] == 2
    assert metrics["registered_images"] >= 10 and metrics["input_images"] == 17
    assert 3 <= metrics["other_models_images"][0] <= 6
    assert any("keeping the largest" in r.getMessage() for r in caplog.records)
    kermit_names = {f"{i:06d}.jpg" for i in range(11)}
    assert {i.name for i in sparse_model(tmp_path / "out").images.values()} <= kermit_names


def test_masks_keep_features_off_masked_out_pixels(kermit: Path, tmp_path: Path) -> None:
    """With segmentation on, features come only from kept pixels (255): here the right half of each photo."""
    masks = tmp_path / "masks"
    (masks / "masks").mkdir(parents=True)
    (masks / "masks.json").write_text(json.dumps({"enabled": True}))
    keep_right = np.zeros((480, 640), dtype=np.uint8)
    keep_right[:, 320:] = 255
    for image in (kermit / "images").iterdir():
        cv2.imwrite(str(masks / "masks" / f"{image.stem}.png"), keep_right)
    spec = make_spec(**{"sfm.matchingMethod": "exhaustive", "sfm.softwareName": "colmap"})
    run_stage("sparse_model", spec, {"frames": kermit, "masks": masks}, tmp_path / "out", {})
    model = sparse_model(tmp_path / "out")
    xs = np.concatenate([[p.xy[0] for p in image.points2D] for image in model.images.values()])
    assert len(xs) > 1000
    assert xs.min() >= 319.0


def test_ignore_masks_keep_features_off_people_too(kermit: Path, tmp_path: Path) -> None:
    """removeHumanSubject's ignore masks (255 = person) remove features on top of the object masks."""
    masks = tmp_path / "masks"
    (masks / "masks").mkdir(parents=True)
    (masks / "ignore").mkdir()
    (masks / "masks.json").write_text(json.dumps({"enabled": True, "ignore": {"dir": "ignore"}}))
    keep = np.zeros((480, 640), dtype=np.uint8)
    keep[:, 160:] = 255  # the object: all but the left quarter
    person = np.zeros((480, 640), dtype=np.uint8)
    person[:, 320:480] = 255  # someone standing in the third quarter
    for image in (kermit / "images").iterdir():
        cv2.imwrite(str(masks / "masks" / f"{image.stem}.png"), keep)
        cv2.imwrite(str(masks / "ignore" / f"{image.stem}.png"), person)
    spec = make_spec(**{"sfm.matchingMethod": "exhaustive", "sfm.softwareName": "colmap"})
    run_stage("sparse_model", spec, {"frames": kermit, "masks": masks}, tmp_path / "out", {})
    xs = np.concatenate([[p.xy[0] for p in image.points2D] for image in sparse_model(tmp_path / "out").images.values()])
    assert len(xs) > 500
    assert xs.min() >= 159.0 and not ((xs > 321.0) & (xs < 479.0)).any()
    assert (xs < 320).any() and (xs > 480).any()  # both allowed strips still give features
