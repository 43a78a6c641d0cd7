"""The 3DGS-as-MCMC densification strategy: relocation of dead Gaussians, growth to a cap, noise.

gsplat 1.5.3's `MCMCStrategy` as splatfacto configures it; `densify.py` says where ours differs and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gs_stages.splat.model import Params
from gs_stages.splat.param_surgery import Optimizers, State, draw_normal, replace_params
from gs_stages.splat.projection import covariances


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
        noise = draw_normal(params["means"].shape, self.generator, params["means"].device) * (gate * scaler)[:, None]
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
