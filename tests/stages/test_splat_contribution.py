"""Crop to what the whole capture saw, and the "negligible" rule: Gaussians no camera (almost) ever draws.

The crop and the contribution ranking read every registered camera's pose and intrinsics (held-out ones
included), never a held-out pixel. The capture below has 7 training cameras on a ring looking at the ball
and one held-out camera looking up at the ceiling, which no training camera sees: what is planted there
must survive, what is planted under the floor (seen by nobody) must go.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pycolmap
import pytest
import torch

from gs_stages.splat.cleanup import CleanupOptions, cleanup, seen_by, training_fidelity
from gs_stages.splat.contribution import NEGLIGIBLE, capture_contribution, contribution
from gs_stages.splat.evaluate import render_view, view_psnr
from gs_stages.splat.metrics import psnr
from gs_stages.splat.render_torch import rasterization
from gs_stages.splat.scene import Scene, load_scene

from .splat_scenes import add_points, circle_poses, fibonacci_sphere, ground_truth, look_at, make_scene, scene_folders

BLACK = torch.zeros(3)


def _gaussians(means: np.ndarray, scale: float, opacity: float, grey: float = 0.5) -> dict[str, torch.Tensor]:
    n = len(means)
    return {
        "means": torch.tensor(means, dtype=torch.float32),
        "quats": torch.tensor(np.random.default_rng(n).normal(size=(n, 4)), dtype=torch.float32),
        "scales": torch.full((n, 3), math.log(scale)),
        "opacities": torch.full((n,), math.log(opacity / (1 - opacity))),
        "sh0": torch.full((n, 1, 3), grey),
        "shN": torch.zeros(n, 0, 3),
    }


def _join(*parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}


def _truth() -> dict[str, torch.Tensor]:
    gt = ground_truth()
    return {
        "means": gt["means"],
        "quats": gt["quats"],
        "scales": torch.log(gt["scales"]),
        "opacities": torch.logit(gt["opacities"]),
        "sh0": gt["colors"][:, :1],
        "shN": torch.zeros(len(gt["means"]), 0, 3),
    }


def _guard(scene: Scene):
    return training_fidelity(scene.train, lambda p, view: view_psnr(p, view, rasterization, 0, BLACK))


def _kept(part: dict[str, torch.Tensor], cleaned: dict[str, torch.Tensor]) -> torch.Tensor:
    """Which of `part`'s Gaussians are still in `cleaned` (by their exact centres)."""
    return (part["means"][:, None, :] == cleaned["means"].detach()[None]).all(-1).any(-1)


@pytest.fixture(scope="module")
def looking_up(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """ "a_up.jpg" comes first in name order, so it is the held-out view (test_every 8 of 8 photos)."""
    frames, sparse = scene_folders(tmp_path_factory.mktemp("looking_up"))
    width, height = 64, 48
    focal = 0.5 * width / math.tan(math.radians(30))
    camera = pycolmap.Camera.create_from_model_name(1, "PINHOLE", focal, width, height)
    camera.params = [focal, focal, width / 2, height / 2]
    reconstruction = pycolmap.Reconstruction()
    reconstruction.add_camera_with_trivial_rig(camera)
    up = look_at(np.array([1.0, 0.0, 0.5]), np.array([0.0, 0.0, 3.5]))
    poses = [("a_up.jpg", up)] + [(f"ring_{name}", viewmat) for name, viewmat in circle_poses(7)]
    for i, (name, viewmat) in enumerate(poses):
        cv2.imwrite(str(frames / "images" / name), np.full((height, width, 3), 128, np.uint8))
        image = pycolmap.Image(name=name, camera_id=1, image_id=i + 1)
        reconstruction.add_image_with_trivial_frame(image, pycolmap.Rigid3d(viewmat[:3, :4]))
    add_points(reconstruction, ground_truth(), 0, 0.01)
    reconstruction.write(str(sparse / "sparse" / "0"))
    scene = load_scene(frames, sparse, test_every=8)
    assert [v.name for v in scene.test] == ["a_up.jpg"] and len(scene.train) == 7
    return scene


def test_crop_keeps_what_only_a_held_out_camera_saw_and_cuts_what_none_saw(looking_up: Scene) -> None:
    rng = np.random.default_rng(0)
    ceiling = _gaussians(rng.normal(size=(12, 3)) * 0.2 + [0.0, 0.0, 3.4], 0.05, 0.9)
    floor = _gaussians(rng.normal(size=(12, 3)) * 0.2 + [0.0, 0.0, -3.4], 0.05, 0.9)
    spill = _gaussians(np.array([[0.0, 0.0, -3.0]]), 1.2, 0.9)  # centred under every view, drawn into the ring's
    # the premise: the training cameras neither see nor draw the ceiling; the held-out one does
    assert (seen_by(ceiling["means"], looking_up.train) == 0).all()
    assert (seen_by(ceiling["means"], looking_up.test) == 1).all()
    assert (contribution(ceiling, looking_up.train, rasterization) == 0).all()
    assert seen_by(spill["means"], looking_up.views) == 0 and contribution(spill, looking_up.train, rasterization) > 50
    splat = _join(_truth(), ceiling, floor, spill)
    judges = _guard(looking_up), capture_contribution(looking_up, rasterization)

    cleaned, report = cleanup(splat, looking_up, CleanupOptions(crop=True, clean=True), *judges)
    assert _kept(ceiling, cleaned).all() and _kept(spill, cleaned).all(), report.removed
    assert not _kept(floor, cleaned).any() and report.removed["outside_camera_views"] >= len(floor["means"])

    # the held-out photo's pixels decide nothing: another picture in its place gives the same splat
    noise = torch.randint(0, 256, looking_up.test[0].image.shape, dtype=torch.uint8)
    swapped = dataclasses.replace(looking_up, test=[dataclasses.replace(looking_up.test[0], image=noise)])
    again, report_again = cleanup(splat, swapped, CleanupOptions(crop=True, clean=True), _guard(swapped), judges[1])
    assert torch.equal(again["means"], cleaned["means"]) and report_again.removed == report.removed


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    synthetic = make_scene(tmp_path_factory.mktemp("ring") / "scene", n_cameras=16)
    return load_scene(synthetic.frames, synthetic.sparse, test_every=4)


def test_the_negligible_rule_removes_what_no_camera_draws_and_no_image_changes(ring: Scene) -> None:
    """An opaque core inside the ball hides Gaussians at its centre from every camera; the core's own far
    side is hidden too. The rule removes them and every capture image (training and held-out) is unchanged."""
    rng = np.random.default_rng(1)
    core = _gaussians(fibonacci_sphere(2000, 0.5), 0.04, 0.99)
    hidden = _gaussians(rng.normal(size=(20, 3)) * 0.1, 0.05, 0.9, grey=2.0)
    splat = _join(_truth(), core, hidden)
    measure = capture_contribution(ring, rasterization)
    assert (measure(splat)[-20:] < NEGLIGIBLE).all()  # the premise: the core hides them from every camera

    cleaned, report = cleanup(splat, ring, CleanupOptions(crop=False, clean=True), _guard(ring), measure)
    assert not _kept(hidden, cleaned).any()
    assert report.removed["negligible"] >= 100 and "negligible" not in report.spared, report
    for view in ring.views:
        before, _ = render_view(splat, view, rasterization, 0, BLACK)
        after, _ = render_view(cleaned, view, rasterization, 0, BLACK)
        assert psnr(after, before, None) > 50.0, view.name  # (1/255 everywhere would be 48 dB)


def test_the_budget_keeps_what_draws_most(ring: Scene) -> None:
    """Pruned to half, the splat that keeps the most contributing Gaussians shows the held-out views better
    than the one that keeps the largest and most opaque (the ranking used when no renderer is at hand)."""
    truth = _truth()
    options = CleanupOptions(crop=False, clean=False, budget=len(truth["means"]) // 2)
    by_area, _ = cleanup(truth, ring, options)
    by_drawing, report = cleanup(truth, ring, options, contribution=capture_contribution(ring, rasterization))
    assert report.removed == {"over_budget": len(truth["means"]) // 2}

    def held_out(params: dict) -> float:
        return float(np.mean([view_psnr(params, view, rasterization, 0, BLACK) for view in ring.test]))

    assert held_out(by_drawing) > held_out(by_area) + 2.0, (held_out(by_drawing), held_out(by_area))
