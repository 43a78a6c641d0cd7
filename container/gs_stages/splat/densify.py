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
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from gs_stages.splat.model import Params
from gs_stages.splat.presets import Preset
from gs_stages.splat.render_torch import covariances, quats_to_rotmats

Optimizers = dict[str, torch.optim.Optimizer]
State = dict[str, Any]


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


@dataclass
class MCMCStrategy:
    """3DGS as MCMC: move dead Gaussians onto live ones, add 5% per refinement up to a cap, and
    jitter faint ones every step with noise shaped by their covariance."""

    cap_max: int = 1_000_000
    noise_lr: float = 5e5
    refine_start_iter: int = 500
    refine_stop_iter: int = 25_000
    refine_every: int = 100
    min_opacity: float = 0.005
    generator: torch.Generator | None = None

    def initialize_state(self, scene_scale: float = 1.0) -> State:
        return {"scene_scale": scene_scale}

    def step_pre_backward(self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict) -> None:
        return None

    @torch.no_grad()
    def step_post_backward(
        self, params: Params, optimizers: Optimizers, state: State, step: int, info: dict, lr: float = 0.0
    ) -> None:
        """`lr` is the current means learning rate in nerfstudio's normalised units."""
        if self.refine_start_iter < step < self.refine_stop_iter and step % self.refine_every == 0:
            dead = torch.sigmoid(params["opacities"]) <= self.min_opacity
            if dead.any() and not dead.all():
                self._relocate(params, optimizers, dead)
            n = len(params["means"])
            grow = max(0, min(self.cap_max, int(1.05 * n)) - n)
            if grow > 0:
                self._add(params, optimizers, grow)
        self._inject_noise(params, lr * self.noise_lr / state["scene_scale"])

    def _relocate(self, params: Params, optimizers: Optimizers, dead: Tensor) -> None:
        opacities = torch.sigmoid(params["opacities"])
        alive = torch.where(~dead)[0]
        targets = torch.where(dead)[0]
        sources = alive[_sample(opacities[alive], len(targets), self.generator)]
        self._share(params, sources)
        picked = torch.cat([sources, targets])

        def move(name: str, p: Tensor) -> Tensor:
            p = p.clone()
            p[targets] = p[sources]
            return p

        def restart(key: str, v: Tensor) -> Tensor:
            v = v.clone()
            v[picked] = 0
            return v

        replace_params(params, optimizers, move, restart)

    def _add(self, params: Params, optimizers: Optimizers, count: int) -> None:
        sources = _sample(torch.sigmoid(params["opacities"]), count, self.generator)
        self._share(params, sources)
        replace_params(
            params,
            optimizers,
            lambda name, p: torch.cat([p, p[sources]]),
            lambda key, v: torch.cat([v, torch.zeros((count, *v.shape[1:]), device=v.device, dtype=v.dtype)]),
        )

    def _share(self, params: Params, sources: Tensor) -> None:
        """Split each source's opacity and size among itself and its new copies (paper, Eq. 9)."""
        copies = torch.bincount(sources, minlength=len(params["means"]))[sources] + 1
        opacity, scale = relocation(
            torch.sigmoid(params["opacities"][sources]), torch.exp(params["scales"][sources]), copies
        )
        opacity = opacity.clamp(min=self.min_opacity, max=1.0 - torch.finfo(torch.float32).eps)
        params["opacities"].data[sources] = torch.logit(opacity)
        params["scales"].data[sources] = torch.log(scale)

    def _inject_noise(self, params: Params, scaler: float) -> None:
        opacities = torch.sigmoid(params["opacities"])
        gate = torch.sigmoid(100.0 * ((1.0 - opacities) - 0.995))  # ~1 for nearly transparent, ~0 else
        noise = _randn(params["means"].shape, self.generator, params["means"].device) * (gate * scaler)[:, None]
        cov = covariances(params["quats"], torch.exp(params["scales"]))
        # Multiply-and-sum, not einsum: einsum becomes a batched cuBLAS gemv that CUDA runs in chunks of
        # 65,535 matrices, 0.9 ms of a 20 ms step at 1 M Gaussians (round 4 profile); this is one kernel.
        params["means"].data += (cov * noise[:, None, :]).sum(-1)


def relocation(opacities: Tensor, scales: Tensor, copies: Tensor, n_max: int = 51) -> tuple[Tensor, Tensor]:
    """Opacity and scale for each of n copies so that together they render like the original.

    o' = 1 - (1 - o)^(1/n); s' = o / (sum_{k=1}^{n} C(n, k) (-1)^(k-1) o'^k / sqrt(k)) * s.
    """
    n = copies.clamp(1, n_max).double()
    o = opacities.double()
    new_o = 1.0 - torch.pow(1.0 - o, 1.0 / n)
    k = torch.arange(1, n_max + 1, device=o.device, dtype=torch.float64)
    log_binom = torch.lgamma(n[:, None] + 1) - torch.lgamma(k + 1) - torch.lgamma((n[:, None] - k).clamp_min(0) + 1)
    sign = torch.where(k % 2 == 1, 1.0, -1.0).to(torch.float64)
    terms = torch.exp(log_binom) * sign * new_o[:, None] ** k / torch.sqrt(k)
    denominator = torch.where(k <= n[:, None], terms, torch.zeros_like(terms)).sum(-1)
    new_scales = (o / denominator)[:, None] * scales.double()
    return new_o.to(opacities.dtype), new_scales.to(scales.dtype)


def _sample(weights: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
    """Indices drawn with replacement, proportional to `weights` (inverse CDF; no 2^24 size limit)."""
    cdf = torch.cumsum(weights.double(), 0)
    draws = torch.rand(count, generator=generator, device=generator.device if generator else cdf.device)
    picks = torch.searchsorted(cdf, draws.to(cdf.device, torch.float64) * cdf[-1], right=True)
    return picks.clamp_max(len(weights) - 1)


def _randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Normal noise from the run's generator (which may live on another device than the params)."""
    noise = torch.randn(shape, generator=generator, device=generator.device if generator else device)
    return noise.to(device)


# -- parameter surgery: change the set of Gaussians, carrying Adam's moments along ---------------------


def replace_params(
    params: Params,
    optimizers: Optimizers,
    param_fn: Callable[[str, Tensor], Tensor],
    state_fn: Callable[[str, Tensor], Tensor],
    names: tuple[str, ...] | None = None,
) -> None:
    """Swap each parameter for `param_fn(name, old)`; map its Adam state tensors with `state_fn`."""
    for name in names or tuple(params):
        old = params[name]
        new = torch.nn.Parameter(param_fn(name, old.detach()), requires_grad=old.requires_grad)
        params[name] = new
        optimizer = optimizers[name]
        moments = optimizer.state.pop(old, {})
        for key, value in list(moments.items()):
            if key != "step" and isinstance(value, Tensor):
                moments[key] = state_fn(key, value)
        optimizer.param_groups[0]["params"] = [new]
        if moments:
            optimizer.state[new] = moments


def _update_running_state(state: State, fn: Callable[[Tensor], Tensor]) -> None:
    for key, value in state.items():
        if isinstance(value, Tensor):
            state[key] = fn(value)


@torch.no_grad()
def duplicate(params: Params, optimizers: Optimizers, state: State, mask: Tensor) -> None:
    """Append an exact copy of each selected Gaussian (fresh Adam moments for the copies)."""
    sel = torch.where(mask)[0]
    replace_params(
        params,
        optimizers,
        lambda name, p: torch.cat([p, p[sel]]),
        lambda key, v: torch.cat([v, torch.zeros((len(sel), *v.shape[1:]), device=v.device, dtype=v.dtype)]),
    )
    _update_running_state(state, lambda v: torch.cat([v, v[sel]]))


@torch.no_grad()
def split(
    params: Params, optimizers: Optimizers, state: State, mask: Tensor, generator: torch.Generator | None
) -> None:
    """Replace each selected Gaussian by two, sampled from it, each 1.6x smaller (3DGS)."""
    sel, rest = torch.where(mask)[0], torch.where(~mask)[0]
    scales = torch.exp(params["scales"][sel])
    rot = quats_to_rotmats(F.normalize(params["quats"][sel], dim=-1))
    noise = _randn((2, len(sel), 3), generator, scales.device)
    offsets = torch.einsum("nij,nj,bnj->bni", rot, scales, noise)  # (2, n, 3)

    def param_fn(name: str, p: Tensor) -> Tensor:
        if name == "means":
            halves = (p[sel] + offsets).reshape(-1, 3)
        elif name == "scales":
            halves = torch.log(scales / 1.6).repeat(2, 1)
        else:
            halves = p[sel].repeat(2, *([1] * (p.dim() - 1)))
        return torch.cat([p[rest], halves])

    replace_params(
        params,
        optimizers,
        param_fn,
        lambda key, v: torch.cat([v[rest], torch.zeros((2 * len(sel), *v.shape[1:]), device=v.device, dtype=v.dtype)]),
    )
    _update_running_state(state, lambda v: torch.cat([v[rest], v[sel].repeat(2, *([1] * (v.dim() - 1)))]))


@torch.no_grad()
def remove(params: Params, optimizers: Optimizers, state: State, mask: Tensor) -> None:
    keep = torch.where(~mask)[0]
    replace_params(params, optimizers, lambda name, p: p[keep], lambda key, v: v[keep])
    _update_running_state(state, lambda v: v[keep])


@torch.no_grad()
def reset_opacities(params: Params, optimizers: Optimizers, value: float) -> None:
    """Cap every opacity at `value` and forget the opacity moments."""
    cap = math.log(value / (1.0 - value))
    replace_params(
        params,
        optimizers,
        lambda name, p: p.clamp(max=cap),
        lambda key, v: torch.zeros_like(v),
        names=("opacities",),
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
