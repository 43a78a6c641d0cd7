"""The 3DGS "default" densification strategy (clone, split, prune, opacity reset) and its Gaussian budget.

gsplat 1.5.3's `DefaultStrategy` as splatfacto configures it; `densify.py` says where ours differs and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from gs_stages.splat.model import Params
from gs_stages.splat.param_surgery import Optimizers, State, duplicate, remove, reset_opacities, split


@dataclass
class DefaultStrategy:
    """3DGS adaptive density control: clone small / split large high-gradient Gaussians, prune faint
    and huge ones, periodically reset opacities (so floaters can fade and be pruned)."""

    prune_opa: float = 0.005
    grow_grad2d: float = 0.0002
    grow_scale3d: float = 0.01
    grow_scale2d: float = 0.05
    prune_scale3d: float = 0.1
    prune_scale2d: float = 0.15
    refine_scale2d_stop_iter: int = 0
    refine_start_iter: int = 500
    refine_stop_iter: int = 15_000
    reset_every: int = 3000
    refine_every: int = 100
    pause_refine_after_reset: int = 0
    #: No opacity reset after this step (None: no limit). The trainer sets it to max_steps -
    #: preset.reset_alpha_quiet_steps; the presets keep that window at 0 (nerfstudio's schedule), since
    #: on fox a 3000-step window scored lower than the late reset it skips (presets.py).
    reset_stop_iter: int | None = None
    absgrad: bool = False
    #: The Gaussian budget (`training.numGaussians`): growth stops at this count, the candidates with the
    #: largest screen-space gradient going first. Enforced while training, as MCMC's cap is, because
    #: pruning a finished splat down to a budget removes Gaussians the others were fitted around (on kermit
    #: and fox, halving the count after training cost 5-9 dB; docs/BENCHMARKS.md).
    cap_max: int | None = None
    generator: torch.Generator | None = None
    #: Called with (state, n Gaussians, device) right before a refinement: multi-GPU training merges the
    #: statistics of every rank there, so all ranks grow and prune alike (`data_parallel.py`).
    before_refine: Callable[[State, int, torch.device], None] | None = None

    def resets_at(self, step: int) -> bool:
        """Whether the opacities are reset after this step."""
        late = self.reset_stop_iter is not None and step > self.reset_stop_iter
        return step > 0 and step % self.reset_every == 0 and not late

    def initialize_state(self, scene_scale: float = 1.0) -> State:
        # grad2d: summed screen-space gradient norms; count: how often each Gaussian was visible;
        # radii: largest screen footprint, as a fraction of the image's longer side.
        return {"grad2d": None, "count": None, "radii": None, "scene_scale": scene_scale}

    def step_pre_backward(self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict) -> None:
        info["means2d"].retain_grad()

    def step_post_backward(
        self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict, lr: float = 0.0
    ) -> None:
        if step >= self.refine_stop_iter:
            return
        self._update_state(params, state, info)
        # After a reset, refinement pauses until every view has been seen again (splatfacto's rule).
        last_reset = step - step % self.reset_every
        paused = self.resets_at(last_reset) and step - last_reset < self.pause_refine_after_reset
        if step > self.refine_start_iter and step % self.refine_every == 0 and not paused:
            if self.before_refine is not None:
                self.before_refine(state, len(params["means"]), params["means"].device)
            self._grow(params, optimizers, state, step)
            self._prune(params, optimizers, state, step)
            for key in ("grad2d", "count", "radii"):
                state[key].zero_()
        if self.resets_at(step):
            reset_opacities(params, optimizers, value=self.prune_opa * 2.0)

    @torch.no_grad()
    def _update_state(self, params: Params, state: State, info: dict) -> None:
        means2d = info["means2d"]
        grads = means2d.absgrad if self.absgrad else means2d.grad
        if grads is None:  # nothing was visible: no gradient reached the screen positions
            return
        grads = grads.clone()
        # Normalise to [-1, 1] screen units, per camera of the batch (gsplat's convention).
        grads[..., 0] *= info["width"] / 2.0 * info["n_cameras"]
        grads[..., 1] *= info["height"] / 2.0 * info["n_cameras"]
        n = len(params["means"])
        for key in ("grad2d", "count", "radii"):
            if state[key] is None:
                state[key] = torch.zeros(n, device=grads.device)
        seen = (info["radii"] > 0).all(dim=-1)  # (C, N)
        ids = torch.where(seen)[1]
        state["grad2d"].index_add_(0, ids, grads[seen].norm(dim=-1))
        state["count"].index_add_(0, ids, torch.ones_like(ids, dtype=torch.float32))
        footprint = info["radii"][seen].max(dim=-1).values / float(max(info["width"], info["height"]))
        state["radii"][ids] = torch.maximum(state["radii"][ids], footprint)

    @torch.no_grad()
    def _grow(self, params: Params, optimizers: Optimizers, state: State, step: int) -> None:
        grads = state["grad2d"] / state["count"].clamp_min(1)
        high = grads > self.grow_grad2d
        small = torch.exp(params["scales"]).max(dim=-1).values <= self.grow_scale3d * state["scene_scale"]
        clone = high & small
        split_mask = high & ~small
        if step < self.refine_scale2d_stop_iter:
            split_mask |= state["radii"] > self.grow_scale2d
        if self.cap_max is not None:
            clone, split_mask = _within_budget(clone, split_mask, grads, self.cap_max - len(grads))
        if clone.any():
            duplicate(params, optimizers, state, clone)
        split_mask = torch.cat([split_mask, torch.zeros(int(clone.sum()), dtype=torch.bool, device=grads.device)])
        if split_mask.any():
            split(params, optimizers, state, split_mask, self.generator)

    @torch.no_grad()
    def _prune(self, params: Params, optimizers: Optimizers, state: State, step: int) -> None:
        prune = torch.sigmoid(params["opacities"]) < self.prune_opa
        if step > self.reset_every:
            prune |= torch.exp(params["scales"]).max(dim=-1).values > self.prune_scale3d * state["scene_scale"]
            if step < self.refine_scale2d_stop_iter:
                prune |= state["radii"] > self.prune_scale2d
        if prune.any():
            remove(params, optimizers, state, prune)


def _within_budget(clone: Tensor, split_mask: Tensor, grads: Tensor, room: int) -> tuple[Tensor, Tensor]:
    """The clone and split candidates that fit in `room` more Gaussians (each adds one), largest gradient first."""
    candidates = clone | split_mask
    wanted = int(candidates.sum())
    if wanted <= room:
        return clone, split_mask
    keep = torch.zeros_like(candidates)
    if room > 0:
        score = torch.where(candidates, grads, torch.full_like(grads, -1.0))
        keep[torch.topk(score, room).indices] = True
    return clone & keep, split_mask & keep
