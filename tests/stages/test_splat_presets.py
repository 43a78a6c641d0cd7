"""training.model presets, max_steps, and checkpoint/resume, through the real stage entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gs_stages.cli import run_stage
from gs_stages.splat import checkpoint
from gs_stages.splat.model import init_params, means_lr
from gs_stages.splat.presets import PRESETS, resolve
from gs_stages.splat.train import TrainingStopped
from gs_stages.stage import StageError

from .jobs import COMPILED, SPLAT_FILES_ONLY, make_spec, train_splat
from .splat_scenes import SyntheticScene, make_scene

#: Small and quick, with refinement, SH growth and a resolution change inside 60 steps.
QUICK = {
    "num_downscales": 1,
    "resolution_schedule": 30,
    "warmup_length": 10,
    "refine_every": 10,
    "reset_alpha_every": 5,
    "densify_grad_thresh": 0.0002,
    "sh_degree_interval": 20,
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScene:
    return make_scene(tmp_path_factory.mktemp("splat-small"), n_cameras=16, width=48, height=36)


def _run(scene: SyntheticScene, output: Path, steps: int, model: str = "splatfacto", **settings: Any) -> dict:
    return train_splat(scene, output, steps, QUICK, model, **{**COMPILED, **settings})


def test_presets_carry_nerfstudios_method_differences() -> None:
    base, big, mcmc = PRESETS["splatfacto"], PRESETS["splatfacto-big"], PRESETS["splatfacto-mcmc"]
    assert (base.cull_alpha_thresh, base.densify_grad_thresh, base.strategy) == (0.1, 0.0008, "default")
    assert (big.cull_alpha_thresh, big.densify_grad_thresh) == (0.005, 0.0005)
    assert (mcmc.strategy, mcmc.cull_alpha_thresh, mcmc.stop_split_at) == ("mcmc", 0.005, 25000)
    # measured deviations (presets.py docstring): the peer's mcmc init and background
    assert (mcmc.init_opacity, mcmc.init_scale, mcmc.background_color) == (0.5, 0.1, "black")
    assert (big.init_opacity, big.init_scale, big.background_color) == (0.1, 1.0, "random")
    light = PRESETS["splatfacto-w-light"]
    assert (base.stop_screen_size_at, light.stop_screen_size_at, big.stop_screen_size_at) == (0, 0, 4000)  # round 9
    assert resolve("splatfacto", {"num_downscales": 0}).num_downscales == 0
    with pytest.raises(StageError, match="unknown"):
        resolve("splatfacto", {"no_such_field": 1})
    assert resolve("splatfacto-mcmc", {"background_color": "black"}).background_color == "black"
    with pytest.raises(StageError, match="background_color: expected one of random, black, white, got 'purple'"):
        resolve("splatfacto", {"background_color": "purple"})


def test_3dgut_is_trained_as_gsplat_trains_it_and_keeps_the_mcmc_strategy() -> None:
    ut, mcmc = PRESETS["3dgut"], PRESETS["splatfacto-mcmc"]
    assert ut.with_ut and not mcmc.with_ut
    assert (ut.strategy, ut.cull_alpha_thresh) == ("mcmc", 0.005)
    assert (ut.init_opacity, ut.init_scale) == (0.1, 1.0)  # splatfacto's start, not gsplat's mcmc one (#12)
    with pytest.raises(StageError, match="mcmc strategy only"):
        resolve("3dgut", {"strategy": "default"})


def test_max_steps_is_honoured(scene: SyntheticScene, tmp_path: Path) -> None:
    metrics = _run(scene, tmp_path, steps=7)
    assert metrics["steps"] == 7
    assert checkpoint.latest(tmp_path / "checkpoints").name == "step-000007.pt"
    assert (tmp_path / "splat.ply").exists() and (tmp_path / "metrics.json").exists()


def test_the_splat_file_holds_the_sh_degree_training_reached(scene: SyntheticScene, tmp_path: Path) -> None:
    """QUICK adds a degree every 20 steps: 7 steps end at degree 0, 45 at degree 2. Bands never trained are
    not written, so the .ply (and the .spz made from it) renders as the evaluation did."""
    from gs_stages.export.ply import read_ply
    from gs_stages.export.spz import decode_spz

    for steps, degree in ((7, 0), (45, 2)):
        out = tmp_path / f"run{steps}"
        metrics = _run(scene, out, steps=steps)
        assert metrics["sh_degree"] == degree
        splat = read_ply(out / "splat.ply")
        assert splat.degree == degree and splat.sh.shape[1] == (degree + 1) ** 2
        spz = run_stage("spz", make_spec(), {"splat": out}, out / "spz", SPLAT_FILES_ONLY)
        assert spz["sh_degree"] == degree
        assert decode_spz(next((out / "spz").glob("*.spz")).read_bytes()).degree == degree


def test_mcmc_preset_trains(scene: SyntheticScene, tmp_path: Path) -> None:
    metrics = _run(scene, tmp_path, steps=25, model="splatfacto-mcmc")
    assert metrics["strategy"] == "mcmc" and metrics["steps"] == 25
    assert metrics["gaussians_before_cleanup"] == int(1.05 * 3000)  # one refinement at step 20 adds 5%


def test_multi_gpu_without_gpus_trains_in_one_process_and_says_so(scene: SyntheticScene, tmp_path: Path) -> None:
    metrics = train_splat(scene, tmp_path, 3, QUICK, job={"training.enableMultiGpu": "true"})
    assert metrics["trained"] and metrics["steps"] == 3
    assert metrics["multi_gpu_note"] == "enableMultiGpu: no GPU, trained in one CPU process"
    assert "data_parallel" not in metrics
    assert "multi_gpu_note" not in _run(scene, tmp_path / "plain", steps=1)


def test_a_stopped_run_resumes_from_its_last_checkpoint(scene: SyntheticScene, tmp_path: Path) -> None:
    straight = _run(scene, tmp_path / "straight", steps=60, checkpoint_every=30)

    interrupted = tmp_path / "interrupted"
    with pytest.raises(TrainingStopped):
        _run(scene, interrupted, steps=60, checkpoint_every=30, stop_after=40)
    assert [p.name for p in (interrupted / "checkpoints").glob("*.pt")] == ["step-000030.pt"]
    resumed = _run(scene, interrupted, steps=60, checkpoint_every=30)

    assert resumed["resumed_from_step"] == 30 and resumed["steps"] == 60
    a = torch.load(tmp_path / "straight" / "checkpoints" / "step-000060.pt", weights_only=False)
    b = torch.load(interrupted / "checkpoints" / "step-000060.pt", weights_only=False)
    assert a["params"]["means"].shape == b["params"]["means"].shape
    assert len(a["params"]["means"]) != 3000  # refinement ran on both sides of the checkpoint
    for name in a["params"]:
        assert torch.allclose(a["params"][name], b["params"][name], atol=1e-6), name
    for name in a["optimizers"]:
        assert torch.allclose(
            a["optimizers"][name]["state"][0]["exp_avg_sq"], b["optimizers"][name]["state"][0]["exp_avg_sq"]
        )
    assert torch.equal(a["strategy"]["count"], b["strategy"]["count"])
    assert resumed["num_gaussians"] == straight["num_gaussians"]
    assert resumed["psnr"] == pytest.approx(straight["psnr"], abs=1e-4)


def test_means_learning_rate_decays_over_the_preset_horizon_or_the_run() -> None:
    fixed = resolve("splatfacto")  # nerfstudio: 1.6e-4 -> 1.6e-6 over 30000 steps, whatever the run's length
    run = resolve("splatfacto", {"lr_means_max_steps": 0})  # over this run, as gsplat's simple_trainer
    assert means_lr(fixed, 2.0, 0, 7000) == pytest.approx(2.0 * 1.6e-4)
    assert means_lr(fixed, 2.0, 7000, 7000) == pytest.approx(2.0 * 1.6e-4 * 0.01 ** (7000 / 30000))
    assert means_lr(run, 2.0, 7000, 7000) == pytest.approx(2.0 * 1.6e-6)
    assert means_lr(run, 2.0, 3500, 7000) == pytest.approx(2.0 * 1.6e-5)
    assert means_lr(fixed, 2.0, 30000, 30000) == pytest.approx(means_lr(run, 2.0, 30000, 30000))


def test_initial_scale_and_opacity_follow_the_preset() -> None:
    # Four points on a unit square: each one's 3 nearest others lie at 1, 1 and sqrt(2).
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    colours = np.full((4, 3), 128, dtype=np.uint8)
    generator = torch.Generator().manual_seed(0)
    cpu = torch.device("cpu")
    plain = init_params(points, colours, resolve("splatfacto"), generator, cpu)
    peer_mcmc = init_params(
        points, colours, resolve("splatfacto", {"init_scale": 0.1, "init_opacity": 0.5}), generator, cpu
    )
    expected = (2 + 2**0.5) / 3
    assert torch.exp(plain["scales"]).detach() == pytest.approx(torch.full((4, 3), expected))
    assert torch.exp(peer_mcmc["scales"]).detach() == pytest.approx(torch.full((4, 3), 0.1 * expected))
    assert torch.sigmoid(plain["opacities"]).detach() == pytest.approx(torch.full((4,), 0.1))
    assert torch.sigmoid(peer_mcmc["opacities"]).detach() == pytest.approx(torch.full((4,), 0.5))


def test_a_profiled_window_writes_its_table_and_trains_the_same(scene: SyntheticScene, tmp_path: Path) -> None:
    plain = _run(scene, tmp_path / "plain", steps=25)
    profiled = _run(scene, tmp_path / "profiled", steps=25, profile_steps=5, profile_start=12)
    assert "profile" not in plain
    summary = profiled["profile"]
    assert (summary["start"], summary["steps"], summary["file"]) == (12, 5, "profile.txt")
    assert summary["gaussians"] == 3000 and summary["ms_per_step_profiled"] > 0  # before the first refinement
    table = (tmp_path / "profiled" / "profile.txt").read_text()
    assert table.startswith("steps 12..17 (5 steps)") and "aten::" in table
    assert profiled["psnr"] == plain["psnr"]  # the profiler watches, it changes nothing
    # A window past the end moves inside the run; a bad start is refused.
    late = _run(scene, tmp_path / "late", steps=25, profile_steps=10, profile_start=100)
    assert (late["profile"]["start"], late["profile"]["steps"]) == (15, 10)
    with pytest.raises(StageError, match="setting profile_start must be at least 0, got -1"):
        _run(scene, tmp_path / "bad", steps=25, profile_steps=5, profile_start=-1)


def test_preset_overrides_are_typed_by_the_preset_fields() -> None:
    """JSON types, strictly (pydantic, from the Preset's type hints): an int where a float goes, nothing looser."""
    base = PRESETS["splatfacto"]
    assert resolve("splatfacto", {"init_opacity": 1}).init_opacity == 1.0
    for key, value, expected in (
        ("num_downscales", 1.5, "expected a int"),
        ("num_downscales", True, "expected a int"),
        ("init_opacity", "0.5", "expected a float"),
        ("strategy", "fancy", "expected one of"),
    ):
        with pytest.raises(StageError, match=f"preset_overrides.{key}: {expected}"):
            resolve("splatfacto", {key: value})
    assert resolve("splatfacto", {}) is base
