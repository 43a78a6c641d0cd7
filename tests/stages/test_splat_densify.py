"""Densification: parameter surgery keeps Adam's moments aligned, and the strategies' schedules."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from gs_stages.splat.densify import (
    DefaultStrategy,
    MCMCStrategy,
    duplicate,
    make_strategy,
    relocation,
    remove,
    split,
)
from gs_stages.splat.model import init_params, make_optimizers
from gs_stages.splat.presets import PRESETS
from gs_stages.splat.render_torch import covariances


def _trained_params(n: int = 8, kind: str = "adam"):
    """Parameters with one Adam step taken, so every Gaussian has distinct moments."""
    generator = torch.Generator().manual_seed(0)
    points = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    colours = np.full((n, 3), 128, np.uint8)
    params = init_params(points, colours, PRESETS["splatfacto"], generator, torch.device("cpu"))
    optimizers = make_optimizers(params, PRESETS["splatfacto"], scene_scale=1.0, kind=kind)
    _step(params, optimizers)
    return params, optimizers, generator


def _step(params, optimizers) -> None:
    n = len(params["means"])
    loss = sum((p * torch.arange(1.0, n + 1).view(-1, *[1] * (p.dim() - 1))).sum() for p in params.values())
    loss.backward()
    for optimizer in optimizers.values():
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def _seen_by_one_camera(gradient: float, n: int = 8) -> dict:
    """A rasterizer `info` where one 10x10 camera sees all n Gaussians, with this screen-space gradient."""
    info = {
        "means2d": torch.zeros(1, n, 2),
        "radii": torch.ones(1, n, 2, dtype=torch.int32),
        "width": 10,
        "height": 10,
        "n_cameras": 1,
    }
    info["means2d"].grad = torch.full((1, n, 2), gradient)
    return info


def _moments(params, optimizers, name):
    return optimizers[name].state[params[name]]["exp_avg"]


def test_duplicate_split_remove_carry_adam_moments_with_their_gaussians() -> None:
    params, optimizers, generator = _trained_params()
    state = {"grad2d": torch.arange(8.0), "scene_scale": 1.0}
    before = _moments(params, optimizers, "scales").clone()

    duplicate(params, optimizers, state, torch.tensor([True] + [False] * 7))
    assert len(params["means"]) == 9 and state["grad2d"].tolist() == [*range(8), 0]
    moments = _moments(params, optimizers, "scales")
    assert torch.equal(moments[:8], before) and (moments[8] == 0).all()

    old_scales = params["scales"].detach().clone()
    split(params, optimizers, state, torch.tensor([False, True] + [False] * 7), generator)
    assert len(params["means"]) == 10
    # The split Gaussian goes to the end twice, each 1.6x smaller; the others keep their moments.
    assert torch.allclose(params["scales"][-2:], old_scales[1] - math.log(1.6))
    assert torch.equal(_moments(params, optimizers, "scales")[0], before[0])
    assert (_moments(params, optimizers, "scales")[-2:] == 0).all()
    assert state["grad2d"].tolist() == [0, *range(2, 8), 0, 1, 1]

    remove(params, optimizers, state, torch.arange(10) % 2 == 0)
    assert len(params["means"]) == 5 and len(_moments(params, optimizers, "means")) == 5
    assert all(len(p) == 5 for p in params.values()) and len(state["grad2d"]) == 5


def test_fused_adam_makes_the_same_updates_through_densification() -> None:
    runs = {kind: _trained_params(kind=kind) for kind in ("adam", "fused_adam")}
    assert runs["fused_adam"][1]["means"].defaults["fused"] and not runs["adam"][1]["means"].defaults["fused"]
    for params, optimizers, generator in runs.values():
        state = {"grad2d": torch.arange(8.0), "scene_scale": 1.0}
        duplicate(params, optimizers, state, torch.tensor([True] + [False] * 7))
        split(params, optimizers, state, torch.tensor([False, True] + [False] * 7), generator)
        remove(params, optimizers, state, torch.arange(10) % 3 == 0)
        for _ in range(3):
            _step(params, optimizers)
    (adam, _, _), (fused, _, _) = runs["adam"], runs["fused_adam"]
    for name in adam:
        assert torch.allclose(adam[name], fused[name], rtol=1e-6, atol=1e-7), name


def test_relocation_matches_the_papers_double_sum() -> None:
    opacities = torch.tensor([0.9, 0.5, 0.2, 0.99])
    scales = torch.ones(4, 3)
    copies = torch.tensor([1, 2, 5, 30])
    new_o, new_s = relocation(opacities, scales, copies)
    for i, n in enumerate(copies.tolist()):
        o = float(opacities[i])
        expected_o = 1 - (1 - o) ** (1 / n)
        denominator = sum(
            math.comb(j - 1, k) * (-1) ** k / math.sqrt(k + 1) * expected_o ** (k + 1)
            for j in range(1, n + 1)
            for k in range(j)
        )
        assert math.isclose(new_o[i], expected_o, rel_tol=1e-6)
        assert math.isclose(new_s[i, 0], o / denominator, rel_tol=1e-5)
    assert torch.allclose(new_o[0], opacities[0]) and torch.allclose(new_s[0], scales[0])  # one copy: unchanged


def test_default_strategy_resets_opacity_every_reset_every_steps() -> None:
    """gsplat 1.5.3 never resets (operator-precedence bug); we do, as 3DGS and the upstream fix intend."""
    params, optimizers, generator = _trained_params()
    strategy = DefaultStrategy(prune_opa=0.05, reset_every=30, refine_stop_iter=100, generator=generator)
    state = strategy.initialize_state(1.0)
    params["opacities"].data[:] = 3.0
    info = _seen_by_one_camera(gradient=0.0)
    strategy.step_post_backward(params, optimizers, state, 29, info)
    assert (params["opacities"] == 3.0).all()
    strategy.step_post_backward(params, optimizers, state, 30, info)
    assert torch.allclose(torch.sigmoid(params["opacities"]), torch.tensor(0.1))
    assert state["count"].tolist() == [2.0] * 8


def test_no_opacity_reset_in_the_last_quiet_steps_of_a_run() -> None:
    """With reset_alpha_quiet_steps, no opacity reset falls that close to the end of the run."""
    preset = PRESETS["splatfacto"]
    generator = torch.Generator()

    def resets(max_steps: int, quiet: int) -> list[int]:
        custom = dataclasses.replace(preset, reset_alpha_quiet_steps=quiet)
        strategy = make_strategy(custom, 40, generator, max_steps=max_steps)
        return [s for s in range(max_steps) if s < strategy.refine_stop_iter and strategy.resets_at(s)]

    assert resets(7000, quiet=3000) == [3000]
    assert resets(15000, quiet=3000) == [3000, 6000, 9000, 12000]  # the job default: nerfstudio's schedule
    assert resets(30000, quiet=3000) == [3000, 6000, 9000, 12000]  # nerfstudio's own length: unchanged
    assert resets(2000, quiet=3000) == []
    assert resets(7000, quiet=preset.reset_alpha_quiet_steps) == [3000, 6000]  # default: nerfstudio's rule


def test_refinement_pauses_only_after_a_reset_that_happened() -> None:
    params, optimizers, generator = _trained_params()
    strategy = DefaultStrategy(
        prune_opa=0.05,
        reset_every=300,
        refine_every=100,
        refine_start_iter=0,
        pause_refine_after_reset=150,
        prune_scale3d=100.0,
        reset_stop_iter=400,
        generator=generator,
    )
    state = strategy.initialize_state(1.0)
    params["opacities"].data[:] = 3.0
    info = _seen_by_one_camera(gradient=1.0)  # 1.0: every Gaussian wants to grow
    strategy.step_post_backward(params, optimizers, state, 300, info)  # reset, refinement paused
    assert len(params["means"]) == 8 and torch.allclose(torch.sigmoid(params["opacities"]), torch.tensor(0.1))
    strategy.step_post_backward(params, optimizers, state, 400, info)  # still within the pause
    assert len(params["means"]) == 8
    params["opacities"].data[:] = 3.0
    strategy.step_post_backward(params, optimizers, state, 600, info)  # no reset at 600: it refines
    assert len(params["means"]) > 8 and (params["opacities"] == 3.0).all()


def test_the_default_strategy_grows_to_the_budget_and_no_further_largest_gradient_first() -> None:
    """training.numGaussians caps growth while training (as MCMC's cap does), not only after it."""
    params, optimizers, generator = _trained_params(n=8)
    strategy = DefaultStrategy(
        prune_opa=0.0, refine_start_iter=0, refine_every=10, prune_scale3d=100.0, cap_max=11, generator=generator
    )
    state = strategy.initialize_state(1.0)
    params["opacities"].data[:] = 3.0
    params["means"].data[:, 0] = torch.arange(8.0)  # a tag that travels with each Gaussian through the surgery
    params["scales"].data[:] = -10.0  # small: every candidate is cloned (an exact copy), none split and moved
    info = _seen_by_one_camera(gradient=1.0, n=8)
    info["means2d"].grad[0, :, 0] = torch.arange(1.0, 9.0)  # every one above the threshold, Gaussian 7 highest
    strategy.step_post_backward(params, optimizers, state, 10, info)
    assert len(params["means"]) == 11  # room for 3 of the 8 candidates
    tags = params["means"][:, 0].detach()
    copies = {int(t): int((tags.round() == t).sum()) for t in range(8)}
    assert copies == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2}
    # at the cap nothing more grows, however large the gradients
    info = _seen_by_one_camera(gradient=5.0, n=11)
    strategy.step_post_backward(params, optimizers, state, 20, info)
    assert len(params["means"]) == 11
    # without a budget the same state grows every candidate
    uncapped = dataclasses.replace(strategy, cap_max=None)
    info = _seen_by_one_camera(gradient=5.0, n=11)
    uncapped.step_post_backward(params, optimizers, state, 30, info)
    assert len(params["means"]) > 11


def test_mcmc_strategy_moves_dead_gaussians_and_grows_five_percent() -> None:
    params, optimizers, generator = _trained_params(n=40)
    params["opacities"].data[:10] = -10.0  # dead
    strategy = MCMCStrategy(cap_max=1000, refine_start_iter=0, refine_every=10, min_opacity=0.005, generator=generator)
    state = strategy.initialize_state(1.0)
    strategy.step_post_backward(params, optimizers, state, 10, {}, lr=1e-4)
    assert len(params["means"]) == 42  # int(1.05 * 40)
    assert (torch.sigmoid(params["opacities"]) > 0.005).all()
    assert all(len(p) == 42 for p in params.values())
    assert len(_moments(params, optimizers, "sh0")) == 42


def test_mcmc_noise_moves_transparent_gaussians_along_their_own_covariance() -> None:
    """The paper's SGLD term: noise shaped by each Gaussian's covariance, only where it is nearly transparent."""
    params, _, _ = _trained_params(n=6)
    params["opacities"].data[:3] = -12.0  # nearly transparent: the gate is open (0.62 at most)
    params["opacities"].data[3:] = 4.0  # opaque: the gate is shut (~1e-22)
    params["scales"].data[:] = torch.log(torch.tensor([0.5, 0.1, 0.02]))  # anisotropic, so cov is not a multiple of I
    before = params["means"].detach().clone()
    strategy = MCMCStrategy(cap_max=1000, generator=torch.Generator().manual_seed(7))
    strategy._inject_noise(params, scaler=2.0)

    gate = torch.sigmoid(100.0 * ((1.0 - torch.sigmoid(params["opacities"].detach())) - 0.995))
    noise = torch.randn(before.shape, generator=torch.Generator().manual_seed(7)) * (2.0 * gate)[:, None]

    cov = covariances(params["quats"].detach(), torch.exp(params["scales"].detach())).double()
    expected = (cov[:3] @ noise[:3].double()[..., None])[..., 0]
    moved = (params["means"].detach() - before).double()
    torch.testing.assert_close(moved[:3], expected, rtol=1e-4, atol=1e-7)
    assert moved[3:].abs().max() < 1e-12 + 1e-6 * expected.abs().max()
    assert expected.abs().min() > 0  # the check above compares real displacements
