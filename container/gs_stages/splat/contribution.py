"""How much of the capture's images each Gaussian draws: its render-pass contribution.

A Gaussian's contribution is the sum, over every pixel of every camera, of its blending weight
alpha * T (T: the transmittance left in front of it), LightGaussian's "global significance" without its
volume term. A Gaussian whose contribution is ~0 is (almost) never drawn: it is hidden behind others, outside
every view, or too faint to pass the rasterizer's 1/255 test. Cleanup removes those (rule "negligible"),
keeps the crop from cutting what still draws into a photo, and, when a budget prunes a trained splat,
drops the least contributing first (LightGaussian's pruning order).

Which cameras: every registered camera of the sparse model (`Scene.views`, the held-out ones
included), the same "captured scene" the crop keeps. Only their poses and intrinsics are used, never
their pixels: a splat needs to show whatever any capture photo saw, and in a job that delivers every
registered photo is a training view except the few held out to measure it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gs_stages.splat.backend import Renderer
from gs_stages.splat.lens import view_camera
from gs_stages.splat.model import Params, activated
from gs_stages.splat.scene import Scene, View

#: Less than one pixel's worth of colour over every image of the capture (at the training resolution):
#: removing such a Gaussian changes the capture's images, all together, by less than one pixel. Measured on
#: fox and kermit (docs/BENCHMARKS.md, session 9): 1.5-2 % of a splat, at most 0.002 dB of held-out PSNR;
#: the strict "never changes a pixel by one 8-bit level" (1/255) found 0.1-0.4 %.
NEGLIGIBLE = 1.0

#: Each Gaussian's contribution (N,) for the given parameters (`capture_contribution` makes one).
Contribution = Callable[[Params], Tensor]


def contribution(params: Params, views: Sequence[View], renderer: Renderer) -> Tensor:
    """Sum over the pixels of `views` of each Gaussian's alpha * T (float64, on the params' device).

    Why through the renderer's backward pass: the blend is linear in the colours, image = sum_i c_i alpha_i
    T_i per pixel, so the gradient of the image's sum with respect to a constant per-Gaussian colour is
    exactly sum over pixels of alpha_i T_i. Any of our rasterizers (the compiled CPU one, gsplat on a GPU, the
    PyTorch reference) gives it with the same culling, 1/255 skip and early stop the delivered splat is
    drawn with, and no fourth kernel has to be kept in step with them.
    """
    gaussians = {name: value.detach() for name, value in activated(params).items()}
    device = gaussians["means"].device
    total = torch.zeros(len(gaussians["means"]), dtype=torch.float64, device=device)
    for view in views:
        colors = torch.ones(len(total), 1, device=device).expand(-1, 3).contiguous().requires_grad_(True)
        with torch.enable_grad():
            renders, _, _ = renderer(**{**gaussians, "colors": colors}, sh_degree=None, **view_camera(view, device))
            (grad,) = torch.autograd.grad(renders[..., 0].sum(), colors, allow_unused=True)
        if grad is not None:  # None: no Gaussian reached this view
            total += grad[:, 0].double()
    return total


def capture_contribution(scene: Scene, renderer: Renderer) -> Contribution:
    """The contribution over every camera of the capture (poses and intrinsics only, as the module says)."""
    cameras = scene.views

    def measure(params: Params) -> Tensor:
        return contribution(params, cameras, renderer)

    return measure
