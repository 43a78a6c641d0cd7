"""The demo's gallery scene (`gs_dagster.sample`, `gs_dagster.gallery`): the same spec always writes the same
archive, and the sparse_model stage, run with the demo's own options on the demo's own sample, registers every
view at the camera's true focal length and on the orbit the views were rendered from."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pycolmap

from gs_dagster.demo import DEMO_OPTIONS, DEMO_SAMPLE, DEMO_SETTINGS
from gs_dagster.sample import SampleSpec, camera_eye, focal_pixels, write_sample
from gs_stages.cli import run_chain
from gs_stages.jobspec import parse_job


def test_the_same_spec_writes_the_same_bytes(tmp_path: Path) -> None:
    spec = SampleSpec(views=3, width=160, height=120)
    first = write_sample(tmp_path / "a.zip", spec).read_bytes()
    second = write_sample(tmp_path / "b.zip", spec).read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = archive.namelist()
        pixels = [np.frombuffer(archive.read(name), np.uint8) for name in names]
    assert names == ["images/0000.jpg", "images/0001.jpg", "images/0002.jpg"]
    assert len({p.tobytes() for p in pixels}) == 3  # three different views, not one image thrice


def test_sfm_registers_every_demo_view_on_its_true_orbit(tmp_path: Path, demo_sample: Path) -> None:
    media = demo_sample  # write_sample(..., DEMO_SAMPLE), shared with test_demo.py's clone
    spec = parse_job(
        {"uuid": "demo-scene", "s3": {"bucketName": "demo-bucket", "inputKey": "gallery.zip"}}
    ).with_overrides(DEMO_OPTIONS)
    metrics = run_chain(["frames", "masks", "sparse_model"], spec, tmp_path / "out", media, dict(DEMO_SETTINGS))

    sfm = metrics["sparse_model"]
    assert sfm["registered_images"] == DEMO_SAMPLE.views == metrics["frames"]["frame_count"]
    assert sfm["models_found"] == 1 and sfm["points3d"] > 2000, sfm
    assert sfm["mean_reprojection_error_px"] < 0.5, sfm

    model = pycolmap.Reconstruction(tmp_path / "out" / "sparse_model" / "demo-scene" / "sparse" / "0")
    (camera,) = model.cameras.values()
    assert abs(camera.focal_length - focal_pixels(DEMO_SAMPLE)) / focal_pixels(DEMO_SAMPLE) < 0.02, camera
    # The solved camera centres are the rendered orbit up to a similarity transform (SfM's own frame and scale).
    images = sorted(model.images.values(), key=lambda image: image.name)
    solved = np.array([image.projection_center() for image in images])
    truth = np.array([camera_eye(DEMO_SAMPLE, int(Path(image.name).stem)) for image in images])
    residual = _similarity_residual(solved, truth)
    assert residual < 0.02 * DEMO_SAMPLE.radius, residual


def _similarity_residual(source: np.ndarray, target: np.ndarray) -> float:
    """RMS distance after the best scale, rotation and translation from source onto target (Umeyama)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s / len(source))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = np.trace(np.diag(sigma) @ d) / s.var(axis=0).sum()
    aligned = scale * s @ rotation.T + mu_t
    return float(np.sqrt(((aligned - target) ** 2).sum(axis=1).mean()))
