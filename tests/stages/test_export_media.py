"""The spz stage's fly-through (.mp4), thumbnail (.png) and .sog, judged by third-party readers, and their
delivery to the bucket with cameras.json.

The splat is the synthetic scene's ground truth with the splat stage's cameras on a circle around it
(tests/viewer/viewer_jobs.py). Measures:
* the .mp4 is decoded by OpenCV's FFmpeg reader (not the encoder's library): frame count = seconds x fps,
  the size asked for, frames that change along the path, and the first frame (the path starts at the
  first capture camera) within 25 dB PSNR of our render of the delivered .spz from that camera;
* the .png (Pillow) is the size asked for, not blank, and within 25 dB of that render, while a render
  from the opposite camera is far from it (below 19 dB): it shows that view, not any picture;
* the .sog is read back by splat-transform (PlayCanvas) with every Gaussian, each position within 1 % of
  the scene's extent of one of ours (SOG reorders them and stores 16-bit positions after a log transform).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from gs_dagster.assets.delivery import deliver
from gs_dagster.resources.stage_folders import stage_folder
from gs_dagster.resources.storage import LocalStore
from gs_stages.cli import run_stage
from gs_stages.export.camera_path import output_size, scaled_intrinsics
from gs_stages.export.ply import read_ply
from gs_stages.export.sog import splat_transform
from gs_stages.export.spz import read_spz
from tests.stages.jobs import make_spec
from tests.stages.splat_scenes import render_gaussians
from tests.viewer.viewer_jobs import write_trained_splat

SETTINGS = {
    "flythrough_seconds": 1.5,
    "flythrough_fps": 4,
    "flythrough_long_side": 64,
    "thumbnail_long_side": 96,
}
MIN_PSNR_DB = 25.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0**2 / max(mse, 1e-12))


def our_render(spz_dir, camera: dict, long_side: int) -> np.ndarray:
    """Our render of the delivered .spz (decoded by our reader) from `camera` at `long_side` pixels."""
    width, height = output_size(camera, long_side)
    g = read_spz(next(spz_dir.glob("*.spz")))
    rgb, _ = render_gaussians(
        g,
        np.array(camera["world_to_camera"]),
        scaled_intrinsics(camera, width, height),
        width,
        height,
        backgrounds=torch.zeros(1, 3),
    )
    return (rgb.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def stage_output(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("media")
    splat = write_trained_splat(tmp / "splat", 160, 120)
    out = tmp / "spz"
    metrics = run_stage("spz", make_spec(), {"splat": splat}, out, {**SETTINGS, "sog": "false"})
    cameras = sorted(json.loads((out / "cameras.json").read_text())["cameras"], key=lambda c: c["name"])
    return out, metrics, cameras


def test_flythrough_decodes_with_the_frames_and_size_asked_for(stage_output):
    out, metrics, cameras = stage_output
    video = cv2.VideoCapture(str(out / "stage-test.mp4"))
    assert video.isOpened()
    frames = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    assert len(frames) == metrics["flythrough_frames"] == 6  # 1.5 s x 4 fps
    assert round(video.get(cv2.CAP_PROP_FPS)) == 4
    assert frames[0].shape == (48, 64, 3) and metrics["flythrough_size"] == [64, 48]  # camera 160x120 at 64 px
    assert psnr(frames[0], frames[-1]) < MIN_PSNR_DB, "the camera does not move along the path"
    assert psnr(frames[0], our_render(out, cameras[0], 64)) >= MIN_PSNR_DB


def test_thumbnail_is_the_first_camera_view(stage_output):
    out, metrics, cameras = stage_output
    with Image.open(out / "stage-test.png") as opened:
        assert opened.format == "PNG" and opened.size == (96, 72)
        thumb = np.asarray(opened.convert("RGB"))
    assert thumb.std() > 10 and (thumb.max(axis=2) > 0).mean() > 0.5  # not blank: the ball in its room
    score = psnr(thumb, our_render(out, cameras[0], 96))
    opposite = psnr(thumb, our_render(out, cameras[len(cameras) // 2], 96))
    print(f"thumbnail vs our render: {score:.1f} dB (from the opposite camera: {opposite:.1f} dB)")
    assert score >= MIN_PSNR_DB and opposite < MIN_PSNR_DB - 6
    assert metrics["thumbnail_file"] == "stage-test.png" and metrics["media_renderer"].endswith(" on cpu")


def test_flythrough_and_thumbnail_can_be_turned_off(tmp_path):
    splat = write_trained_splat(tmp_path / "splat", 160, 120)
    out = tmp_path / "spz"
    metrics = run_stage("spz", make_spec(), {"splat": splat}, out, {"flythrough": "false", "thumbnail": "off"})
    assert not list(out.glob("*.mp4")) and not list(out.glob("*.png"))
    assert metrics["flythrough"] == "off (engine setting flythrough=false)" and metrics["thumbnail"] == "off"
    assert (out / "stage-test.spz").is_file() and (out / "cameras.json").is_file()


def test_without_the_video_encoder_the_splat_is_still_delivered(tmp_path, monkeypatch):
    """imageio-ffmpeg not installed: the .spz, thumbnail and cameras are written, the video's absence is told."""
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # `import imageio_ffmpeg` raises ImportError
    splat = write_trained_splat(tmp_path / "splat", 160, 120)
    out = tmp_path / "spz"
    metrics = run_stage("spz", make_spec(), {"splat": splat}, out, {**SETTINGS, "sog": "false"})
    assert not list(out.glob("*.mp4")) and (out / "stage-test.png").is_file()
    assert len(read_spz(out / "stage-test.spz")) == len(read_ply(splat / "splat.ply"))
    assert [p for p in metrics["media_problems"] if p.startswith("flythrough:") and "imageio_ffmpeg" in p]


def test_a_bad_setting_is_refused_with_what_to_use(tmp_path):
    from gs_stages.stage import StageError

    splat = write_trained_splat(tmp_path / "splat", 160, 120)
    with pytest.raises(StageError, match="setting flythrough_fps must be at least 1, got 0"):
        run_stage("spz", make_spec(), {"splat": splat}, tmp_path / "a", {"flythrough_fps": 0})
    with pytest.raises(StageError, match="spz_version='5' is not an SPZ version we write") as refused:
        run_stage("spz", make_spec(), {"splat": splat}, tmp_path / "b", {"spz_version": "5"})
    assert refused.value.hint == "use 3 or 4 (default 3)"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before the stage ran


@pytest.mark.slow
def test_sog_reads_back_in_splat_transform_and_everything_is_delivered(tmp_path):
    tool = splat_transform()
    if tool is None or shutil.which("node") is None:
        pytest.skip("splat-transform is not installed (make viewer)")
    splat = write_trained_splat(tmp_path / "splat", 160, 120)
    out = tmp_path / "spz"
    metrics = run_stage("spz", make_spec(), {"splat": splat}, out, {**SETTINGS, "sog": "true", "spz_version": 4})
    assert metrics["sog"] == "written" and metrics["sog_bytes"] == (out / "stage-test.sog").stat().st_size
    back = tmp_path / "back.ply"
    done = subprocess.run([tool, "-q", "-w", str(out / "stage-test.sog"), str(back)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ply, theirs = read_ply(out / "stage-test.ply"), read_ply(back)
    assert len(theirs) == len(ply) == metrics["gaussians"]
    extent = float(np.ptp(ply.means, axis=0).max())
    # SOG reorders the Gaussians (Morton order): every one of theirs is near one of ours, and vice versa.
    from scipy.spatial import cKDTree

    assert cKDTree(ply.means).query(theirs.means)[0].max() < 0.01 * extent
    assert cKDTree(theirs.means).query(ply.means)[0].max() < 0.01 * extent
    print(f"sizes: ply {metrics['ply_bytes']}, spz v4 {metrics['spz_bytes']}, sog {metrics['sog_bytes']} bytes")

    storage, bucket = LocalStore(tmp_path / "storage"), LocalStore(tmp_path / "bucket")
    spec = make_spec()
    storage.upload_dir(out, f"spz/{spec.uuid}")
    delivered = deliver(stage_folder(storage, "spz", spec.uuid), storage, bucket, spec)
    assert set(delivered) == {".ply", ".spz", ".sog", ".mp4", ".png", "cameras"}
    prefix = tmp_path / "bucket" / spec.s3.output_prefix / spec.uuid
    assert sorted(p.name for p in prefix.iterdir()) == sorted(
        ["cameras.json", "stage-test.mp4", "stage-test.ply", "stage-test.png", "stage-test.sog", "stage-test.spz"]
    )
    assert (prefix / "cameras.json").read_bytes() == (out / "cameras.json").read_bytes()
