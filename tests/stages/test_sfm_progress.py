"""Feature extraction and matching report how far they are while pycolmap works (sfm/log_progress.py): COLMAP's
per-image (and per-block) log lines, spooled from file descriptor 2, reach the phase's tracker; the lines still
reach stderr (COLMAP's INFO only when the job logs at debug), COLMAP's log level and fd 2 are as they were
afterwards, also after a failure."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pycolmap
import pytest

from gs_stages.progress import ProgressTracker, ProgressUpdate
from gs_stages.sfm.log_progress import colmap_progress, images_extracted, images_matched

from .sfm_fixtures import kermit_frames


@pytest.fixture(scope="module")
def kermit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = tmp_path_factory.mktemp("kermit-progress")
    kermit_frames(frames)
    return frames / "images"


@pytest.fixture
def colmap_level() -> Iterator[None]:
    """COLMAP's log level is process-wide: each test sets its own, and it is put back after."""
    before = pycolmap.logging.minloglevel
    yield
    pycolmap.logging.minloglevel = before


def _extract(images: Path, database: Path, sent: list[ProgressUpdate]) -> None:
    names = sorted(p.name for p in images.iterdir())
    tracker = ProgressTracker("sparse_model", "features", len(names), sent.append, interval_s=0.0)
    options = pycolmap.FeatureExtractionOptions()
    options.num_threads = 1  # one image after another: counts to see
    with colmap_progress(tracker, images_extracted, interval_s=0.01):
        sys.stderr.write("a line of our own\n")
        pycolmap.extract_features(
            database, images, image_names=names, extraction_options=options, device=pycolmap.Device.cpu
        )


def test_extraction_counts_reach_the_tracker_while_colmap_works(
    kermit: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], colmap_level: None
) -> None:
    level = pycolmap.logging.minloglevel = 1  # as sfm/stage.py sets it for a job logging at info
    sent: list[ProgressUpdate] = []
    _extract(kermit, tmp_path / "database.db", sent)
    steps = [u.step for u in sent]
    assert steps and steps == sorted(set(steps)) and steps[0] > 0 and steps[-1] < 11, steps  # the end is the caller's
    assert len(steps) >= 3, steps  # seen as it went, not at once
    err = capfd.readouterr().err
    assert "a line of our own" in err  # everything else written to fd 2 still gets there
    assert "Processed file" not in err  # COLMAP's INFO lines stay hidden at the job's level
    assert pycolmap.logging.minloglevel == level
    assert pycolmap.Database.open(tmp_path / "database.db").num_images() == 11  # extraction itself unchanged

    matched: list[ProgressUpdate] = []
    tracker = ProgressTracker("sparse_model", "sequential matching", 11, matched.append, interval_s=0.0)
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = 3
    with colmap_progress(tracker, images_matched(11), interval_s=0.01):
        pycolmap.match_sequential(tmp_path / "database.db", pairing_options=pairing)
    steps = [u.step for u in matched]
    assert steps and steps == sorted(set(steps)) and steps[-1] < 11, steps
    assert "Processing image" not in capfd.readouterr().err


def test_matchings_log_lines_say_how_many_images_are_done() -> None:
    read = images_matched(100)
    assert read(b"I20261205 20:13:05.1 1 pairing.cc:562] Processing image [1/100]") == 0
    assert read(b"I20261205 20:13:05.1 1 pairing.cc:562] Processing image [41/100]") == 40
    assert read(b"I20261205 20:13:05.1 1 pairing.cc:214] Processing block [1/2, 1/2]") == 0
    assert read(b"I20261205 20:13:05.1 1 pairing.cc:214] Processing block [2/2, 1/2]") == 50  # 2 of 4 blocks before
    assert read(b"I20261205 20:13:05.1 1 feature_matching.cc:218] in 0.5s") is None
    assert images_extracted(b"I20261205 20:13:05.1 1 feature_extraction.cc:270] Processed file [9/11]") == 9


def test_at_debug_colmaps_lines_are_passed_on(
    kermit: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], colmap_level: None
) -> None:
    pycolmap.logging.minloglevel = 0  # as sfm/stage.py sets it for a job logging at debug
    _extract(kermit, tmp_path / "database.db", [])
    err = capfd.readouterr().err
    assert "Processed file [11/11]" in err and "a line of our own" in err


def test_a_failing_extraction_leaves_stderr_and_colmaps_level_as_they_were(capfd: pytest.CaptureFixture[str]) -> None:
    level = pycolmap.logging.minloglevel
    tracker = ProgressTracker("sparse_model", "features", 4, lambda _: None, interval_s=0.0)
    with pytest.raises(RuntimeError), colmap_progress(tracker, images_extracted):
        raise RuntimeError("pycolmap failed")
    os.write(2, b"after the phase\n")
    assert "after the phase" in capfd.readouterr().err
    assert pycolmap.logging.minloglevel == level


def test_without_a_stderr_extraction_goes_on_without_counts() -> None:
    saved = os.dup(2)
    os.close(2)
    try:
        tracker = ProgressTracker("sparse_model", "features", 4, lambda _: None, interval_s=0.0)
        with colmap_progress(tracker, images_extracted):
            done = True
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    assert done
