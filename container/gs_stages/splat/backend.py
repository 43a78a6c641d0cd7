"""Which device and which rasterizer a run uses (engine settings `device` and `backend`).

"auto" means: CUDA when torch sees a GPU, and there gsplat's rasterizer when gsplat imports; the
PyTorch rasterizer everywhere else. An explicit choice that cannot be honoured fails with the
reason instead of silently running something else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gs_stages.splat import render_gsplat, render_torch
from gs_stages.stage import NotAvailableError

Renderer = Callable[..., tuple[torch.Tensor, torch.Tensor, dict[str, Any]]]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NotAvailableError(f"device {name!r} requested but torch sees no CUDA GPU", hint="use device=auto or cpu")
    return device


def pick_renderer(name: str, device: torch.device) -> tuple[str, Renderer]:
    """("gsplat" | "torch", rasterization function)."""
    if name == "torch":
        return "torch", render_torch.rasterization
    problem = render_gsplat.import_error() if device.type == "cuda" else "it needs a CUDA device"
    if problem is None:
        return "gsplat", render_gsplat.rasterization
    if name == "gsplat":
        raise NotAvailableError(f"backend 'gsplat' is not available: {problem}", hint="use backend=auto or torch")
    return "torch", render_torch.rasterization
