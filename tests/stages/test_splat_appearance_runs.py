"""splatfacto-w-light through the stage runner on a small scene: resume, export and the quality check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gs_stages.cli import run_stage
from gs_stages.export.ply import read_ply
from gs_stages.export.spz import decode_spz
from gs_stages.quality_checks import evaluate_check
from gs_stages.splat.metrics import psnr
from gs_stages.splat.scene import load_scene
from gs_stages.splat.train import TrainingStopped

from .jobs import COMPILED, SPLAT_FILES_ONLY, make_spec, train_splat
from .splat_scenes import SyntheticScene, make_scene, render_splat

QUICK = {"num_downscales": 0, "warmup_length": 10, "refine_every": 10, "sh_degree_interval": 20}
MODEL = "splatfacto-w-light"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScene:
    return make_scene(tmp_path_factory.mktemp("w-light-small"), n_cameras=16, width=48, height=36)


def _run(scene: SyntheticScene, output: Path, steps: int, **settings: Any) -> dict:
    return train_splat(scene, output, steps, QUICK, MODEL, **{**COMPILED, **settings})


def test_a_stopped_run_resumes_with_its_appearance(scene: SyntheticScene, tmp_path: Path) -> None:
    straight = _run(scene, tmp_path / "straight", steps=40, checkpoint_every=20)
    interrupted = tmp_path / "interrupted"
    with pytest.raises(TrainingStopped):
        _run(scene, interrupted, steps=40, checkpoint_every=20, stop_after=25)
    resumed = _run(scene, interrupted, steps=40, checkpoint_every=20)
    assert resumed["resumed_from_step"] == 20 and resumed["steps"] == 40

    a = torch.load(tmp_path / "straight" / "checkpoints" / "step-000040.pt", weights_only=False)["appearance"]
    b = torch.load(interrupted / "checkpoints" / "step-000040.pt", weights_only=False)["appearance"]
    assert a["tensors"]["log_gain"].abs().max() > 0  # it trained (rows start at 0)
    for name in a["tensors"]:
        assert torch.allclose(a["tensors"][name], b["tensors"][name], atol=1e-6), name
    for index, state in a["optimizer"]["state"].items():
        assert torch.allclose(state["exp_avg_sq"], b["optimizer"]["state"][index]["exp_avg_sq"]), index
    assert resumed["psnr_nerfw"] == pytest.approx(straight["psnr_nerfw"], abs=1e-4)
    assert resumed["appearance"] == straight["appearance"]


def test_the_gauge_is_pinned_so_the_gaussians_hold_the_average_photos_colours(
    scene: SyntheticScene, tmp_path: Path
) -> None:
    """The training transforms keep mean log gain 0 and mean offset 0 at every checkpoint, while each image's own
    transform still moves: the neutral transform is the identity, and nothing global drifts into the gains."""
    _run(scene, tmp_path / "run", steps=40, checkpoint_every=20)
    for step in (20, 40):
        tensors = torch.load(tmp_path / "run" / "checkpoints" / f"step-{step:06d}.pt", weights_only=False)
        log_gain, offset = tensors["appearance"]["tensors"]["log_gain"], tensors["appearance"]["tensors"]["offset"]
        assert log_gain.abs().max() > 1e-3 and offset.abs().max() > 1e-4  # each image's transform trained
        assert log_gain.mean(0).abs().max() < 1e-6 and offset.mean(0).abs().max() < 1e-6, step


def test_the_neutral_splat_exports_and_reads_back(scene: SyntheticScene, tmp_path: Path) -> None:
    out = tmp_path / "run"
    metrics = _run(scene, out, steps=25)
    assert metrics["model"] == MODEL and "mean of the training images" in metrics["appearance"]["neutral"]
    splat = read_ply(out / "splat.ply")
    assert len(splat) == metrics["num_gaussians"]
    run_stage("spz", make_spec(), {"splat": out}, out / "spz", SPLAT_FILES_ONLY)
    decoded = decode_spz(next((out / "spz").glob("*.spz")).read_bytes())
    assert len(decoded) == len(splat) and decoded.degree == splat.degree == metrics["sh_degree"]


def test_the_reported_heldout_psnr_is_the_delivered_files(scene: SyntheticScene, tmp_path: Path) -> None:
    """metrics.json's held-out PSNR is what a viewer shows: splat.ply alone, over black, at each held-out camera.
    Early in training (opacities from 0.1) much of every view is uncovered, so a colour learned behind the
    Gaussians, which the file cannot carry, would be scored but not delivered (session 8's model did that)."""
    out = tmp_path / "run"
    metrics = _run(scene, out, steps=25)
    held_out = load_scene(scene.frames, scene.sparse, downscale=1).test
    reported = {row["name"]: row["psnr"] for row in metrics["per_view"]}
    assert held_out and set(reported) == {view.name for view in held_out}
    uncovered = []
    for view in held_out:
        render, alpha = render_splat(out / "splat.ply", view)
        uncovered.append(float((alpha < 0.99).float().mean()))
        assert psnr(render.clamp(0, 1), view.image.float() / 255.0) == pytest.approx(reported[view.name], abs=0.02)
    assert max(uncovered) > 0.2  # the comparison covers pixels no Gaussian fills


def test_heldout_psnr_judges_an_appearance_model_by_the_nerfw_protocol(tmp_path: Path) -> None:
    """Its plain PSNR compares neutral colours with each held-out photo's own exposure: not a quality bar."""
    metrics = {"trained": True, "psnr": 12.0, "psnr_nerfw": 25.0, "appearance": {"neutral": "mean"}}
    outcome = evaluate_check("splat", "heldout_psnr", tmp_path, metrics, {"min_psnr": 18.0})
    assert outcome.passed and "NeRF-W" in outcome.description and outcome.metadata["psnr"] == 25.0
    plain = evaluate_check("splat", "heldout_psnr", tmp_path, {**metrics, "appearance": None}, {"min_psnr": 18.0})
    assert not plain.passed and plain.metadata["psnr"] == 12.0  # other models: plain PSNR, as before


def test_the_baked_splat_renders_what_training_saw_through_the_neutral_transform() -> None:
    """One training image, so its transform is the neutral one: rendering the baked Gaussians over black, as a
    viewer draws the delivered file, gives the training-time image (render over black, transform applied),
    uncovered pixels included: nothing is learned behind the Gaussians that the file could not carry."""
    from gs_stages.gaussians import rgb_to_sh_dc
    from gs_stages.splat.appearance import Appearance
    from gs_stages.splat.model import activated
    from gs_stages.splat.render_torch import rasterization

    from .splat_scenes import ground_truth, look_at

    gt = ground_truth(n_object=300, n_room=0)
    n = len(gt["means"])
    colours = torch.rand(n, 3, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    sh = torch.zeros(n, 4, 3)
    sh[:, 0] = torch.as_tensor(rgb_to_sh_dc(colours.numpy()))
    params = {
        "means": gt["means"],
        "scales": torch.log(gt["scales"]),
        "quats": gt["quats"],
        "opacities": torch.logit(gt["opacities"] * 0.9),
        "sh0": sh[:, :1],
        "shN": sh[:, 1:] + 0.05,  # view-dependent colour too: the transform must act on every band
    }
    appearance = Appearance(1, torch.device("cpu"), 0.0, 0.0)
    with torch.no_grad():
        appearance.log_gain.copy_(torch.tensor([[0.4, -0.2, 0.1]]))
        appearance.offset.copy_(torch.tensor([[0.02, 0.05, 0.0]]))
    viewmat = torch.tensor(look_at(torch.tensor([2.0, 0.5, 0.3]).numpy(), torch.zeros(3).numpy()), dtype=torch.float32)
    K = torch.tensor([[40.0, 0, 24], [0, 40.0, 18], [0, 0, 1]])

    def render(p: dict, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, alpha, _ = rasterization(**activated(p), viewmats=viewmat[None], Ks=K[None], width=48, height=36,
                                      sh_degree=1, backgrounds=background[None])  # fmt: skip
        return rgb[0], alpha[0, ..., 0]

    with torch.no_grad():
        over_black, alpha = render(params, torch.zeros(3))
        seen = appearance.apply(over_black, alpha, 0)
        baked, _ = render(appearance.bake(params), torch.zeros(3))
    assert 0.05 < float(alpha.mean()) < 0.95  # both covered and uncovered pixels are compared
    assert torch.allclose(baked, seen, atol=1e-4), float((baked - seen).abs().max())
