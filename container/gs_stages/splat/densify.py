"""Growing and pruning the Gaussians: the 3DGS "default" strategy and the MCMC strategy.

Why our own code and not `gsplat.strategy`: gsplat is not installed where CI runs (it is the GPU
image's `cuda` extra), its MCMC relocation is a CUDA kernel, and one implementation on both
backends means the CPU tests exercise the densification that runs on the GPU. The semantics are
gsplat 1.5.3's (`gsplat/strategy/{default,mcmc,ops}.py`), as splatfacto configures them, with these
deliberate differences:
* opacity reset: gsplat 1.5.3 writes `if step % self.reset_every == 0 & step > 0`, which Python
  reads as a chained comparison that is never true, so it never resets opacities (fixed upstream
  after 1.5.3, "Fix bit-wise and", #776). We reset every `reset_every` steps after step 0, as
  3DGS and the fix intend;
* refinement pauses (`pause_refine_after_reset`) only after a reset that happened; gsplat's modulo
  test also pauses in the first steps of every `reset_every` window without one;
* randomness comes from the run's generator (checkpointed), not the global RNG, so a resumed run
  draws the same numbers as an uninterrupted one;
* MCMC: the relocation formula (3DGS-as-MCMC, Eq. 9) is evaluated in float64 as a single sum
  (sum_i sum_{k<i} C(i-1, k) = C(n, k+1)); a relocated Gaussian and its source both restart their
  Adam moments (gsplat resets only the source's); position noise takes the means learning rate in
  nerfstudio's normalised scene units and is scaled back to ours (see `presets.py`).
`settings.strategy_impl = "gsplat"` uses gsplat's classes instead (GPU comparison runs).

This module is the strategies' common interface and the choice between them; the strategies live in
`strategy_default.py` and `strategy_mcmc.py`, the parameter surgery they share in `param_surgery.py`
(names re-exported here, where callers and tests have always imported them).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import torch

from gs_stages.splat.model import Params
from gs_stages.splat.param_surgery import (
    Optimizers,
    State,
    duplicate,
    remove,
    replace_params,
    reset_opacities,
    split,
)
from gs_stages.splat.presets import Preset
from gs_stages.splat.strategy_default import DefaultStrategy
from gs_stages.splat.strategy_mcmc import MCMCStrategy, relocation

__all__ = [
    "DefaultStrategy",
    "MCMCStrategy",
    "Optimizers",
    "State",
    "Strategy",
    "duplicate",
    "make_strategy",
    "relocation",
    "remove",
    "replace_params",
    "reset_opacities",
    "split",
]


class Strategy(Protocol):
    def initialize_state(self, scene_scale: float) -> State: ...

    def step_pre_backward(
        self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict
    ) -> None: ...

    def step_post_backward(
        self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict, lr: float
    ) -> None: ...


def make_strategy(
    preset: Preset,
    n_train_views: int,
    generator: torch.Generator,
    impl: str = "builtin",
    max_steps: int | None = None,
) -> Strategy:
    """The preset's strategy with splatfacto's arguments (nerfstudio `SplatfactoModel.populate_modules`).

    `max_steps` (the run's length) lets the default strategy skip opacity resets that would fall
    within `preset.reset_alpha_quiet_steps` of the end (see `DefaultStrategy.reset_stop_iter`).
    """
    if impl == "gsplat":
        return _GsplatStrategy(preset, n_train_views)
    if preset.strategy == "mcmc":
        return MCMCStrategy(
            cap_max=preset.max_gs_num,
            noise_lr=preset.noise_lr,
            refine_start_iter=preset.warmup_length,
            refine_stop_iter=preset.stop_split_at,
            refine_every=preset.refine_every,
            min_opacity=preset.cull_alpha_thresh,
            generator=generator,
        )
    return DefaultStrategy(
        prune_opa=preset.cull_alpha_thresh,
        grow_grad2d=preset.densify_grad_thresh,
        grow_scale3d=preset.densify_size_thresh,
        grow_scale2d=preset.split_screen_size,
        prune_scale3d=preset.cull_scale_thresh,
        prune_scale2d=preset.cull_screen_size,
        refine_scale2d_stop_iter=preset.stop_screen_size_at,
        refine_start_iter=preset.warmup_length,
        refine_stop_iter=preset.stop_split_at,
        reset_every=preset.reset_alpha_every * preset.refine_every,
        refine_every=preset.refine_every,
        pause_refine_after_reset=n_train_views + preset.refine_every,
        reset_stop_iter=None if max_steps is None else max_steps - preset.reset_alpha_quiet_steps,
        absgrad=preset.use_absgrad,
        cap_max=preset.max_gs_num,
        generator=generator,
    )


class _GsplatStrategy:
    """gsplat's own DefaultStrategy / MCMCStrategy behind our interface (GPU comparison runs only).

    Uses the global torch RNG (saved in checkpoints, so resuming still works); MCMC needs CUDA.
    """

    def __init__(self, preset: Preset, n_train_views: int):
        try:
            from gsplat.strategy import DefaultStrategy as GsplatDefault
            from gsplat.strategy import MCMCStrategy as GsplatMCMC
        except ImportError as exc:
            from gs_stages.stage import NotAvailableError

            raise NotAvailableError(
                f"strategy_impl 'gsplat' needs gsplat ({exc})", hint="use strategy_impl=builtin"
            ) from None
        ours = make_strategy(preset, n_train_views, torch.Generator(), "builtin")
        self.mcmc = isinstance(ours, MCMCStrategy)
        inner = GsplatMCMC if self.mcmc else GsplatDefault
        # only what gsplat's class takes: ours adds the generator, the budget, the reset stop, the rank hook
        known = {f.name for f in dataclasses.fields(inner)}
        self.inner = inner(**{k: v for k, v in vars(ours).items() if k in known})

    def initialize_state(self, scene_scale: float) -> State:
        if self.mcmc:
            return {**self.inner.initialize_state(), "scene_scale": scene_scale}
        return self.inner.initialize_state(scene_scale=scene_scale)

    def step_pre_backward(self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict) -> None:
        if not self.mcmc:
            self.inner.step_pre_backward(params, optimizers, state, step, info)

    def step_post_backward(
        self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict, lr: float = 0.0
    ) -> None:
        if self.mcmc:
            # gsplat's noise is lr * noise_lr * covariance; ours divides by the scene scale.
            scene_scale = state["scene_scale"]
            inner_state = {k: v for k, v in state.items() if k != "scene_scale"}
            self.inner.step_post_backward(params, optimizers, inner_state, step, info, lr=lr / scene_scale)
            state.update(inner_state)
        else:
            self.inner.step_post_backward(params, optimizers, state, step, info, packed=False)
