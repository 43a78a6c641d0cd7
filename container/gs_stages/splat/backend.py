"""Which device and which rasterizer a run uses (engine settings `device` and `backend`).

"auto" means: CUDA when torch sees a GPU, and there gsplat's rasterizer when gsplat imports; on a CPU
the compiled tile rasterizer (`render_cpu`) when it builds, else the PyTorch one (`render_torch`, the
reference both are checked against). An explicit choice that cannot be honoured fails with the
reason instead of silently running something else. Whichever it is, 3dgut's 3D evaluation draws no
Gaussian narrower than EWA's low-pass filter would (`footprint.with_floor`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from gs_stages.splat import footprint, render_cpu, render_gsplat, render_torch
from gs_stages.stage import NotAvailableError

log = logging.getLogger("gs_stages.splat")

Renderer = Callable[..., tuple[torch.Tensor, torch.Tensor, dict[str, Any]]]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NotAvailableError(f"device {name!r} requested but torch sees no CUDA GPU", hint="use device=auto or cpu")
    return device


def pick_renderer(name: str, device: torch.device) -> tuple[str, Renderer]:
    """("gsplat" | "cpu" | "torch", rasterization function), with 3dgut's footprint floor around it."""
    backend, rasterize = _pick(name, device)
    return backend, footprint.with_floor(rasterize)


def _pick(name: str, device: torch.device) -> tuple[str, Renderer]:
    if name == "torch":
        return "torch", render_torch.rasterization
    if name == "cpu" or (name == "auto" and device.type == "cpu"):
        if device.type != "cpu":
            raise NotAvailableError(f"backend 'cpu' renders on the CPU, not on {device}", hint="use device=cpu")
        problem = render_cpu.import_error()
        if problem is None:
            return "cpu", render_cpu.rasterization
        if name == "cpu":
            raise NotAvailableError(
                f"backend 'cpu' is not available: {problem}", hint="install g++ and ninja, or use backend=torch"
            )
        log.warning("the compiled CPU rasterizer is not available (%s); using the slower PyTorch one", problem)
        return "torch", render_torch.rasterization
    problem = render_gsplat.import_error() if device.type == "cuda" else "it needs a CUDA device"
    if problem is None:
        return "gsplat", render_gsplat.rasterization
    if name == "gsplat":
        raise NotAvailableError(f"backend 'gsplat' is not available: {problem}", hint="use backend=auto or torch")
    return "torch", render_torch.rasterization
