"""Parameter surgery: change the set of Gaussians while carrying Adam's moments along.

Why its own module: both densification strategies (`strategy_default.py`, `strategy_mcmc.py`) and
their tests change the parameter tensors' length, and each change must replace the optimizer's
parameter and move its moments the same way, or Adam would step new Gaussians with stale moments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gs_stages.splat.model import Params
from gs_stages.splat.projection import quats_to_rotmats

Optimizers = dict[str, torch.optim.Optimizer]
State = dict[str, Any]


def draw_normal(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Normal noise from the run's generator (which may live on another device than the params)."""
    noise = torch.randn(shape, generator=generator, device=generator.device if generator else device)
    return noise.to(device)


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
    noise = draw_normal((2, len(sel), 3), generator, scales.device)
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
