"""The CPU rasterizer: `render_torch`'s projection and colours, then a compiled tile rasterizer.

Why: the pure-PyTorch renderer builds and differentiates a tensor per (pixel, Gaussian) pair, which is
what made CPU training slow; gsplat has no CPU path. Here projection and spherical harmonics stay in
PyTorch (O(N) work, differentiated by autograd), and the per-pixel compositing and its analytic backward
pass run in `csrc/raster_cpu.cpp` (OpenMP over 16x16 tiles). Same arguments and outputs as
`render_torch.rasterization`, which stays the reference it is tested against (tests/splat/test_render_cpu.py).

The extension is compiled once per source (`native.py`: g++ and ninja, into `csrc/build/`); `make setup`
does it (`python -m gs_stages.splat.render_cpu`, which also builds the CPU SSIM kernel), else the first render
does. `import_error()` says why it cannot be used, so backend "auto" falls back to the PyTorch renderer.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import Tensor

from gs_stages.splat import native, render_torch, ssim_cpu

NAME = "raster_cpu"


def extension() -> Any:
    """The compiled module (`native.load`: built on first call, rebuilt when the source changes)."""
    return native.load(NAME)


def import_error() -> str | None:
    """None when the extension builds and loads, else why not (no compiler, no ninja, a build error)."""
    return native.import_error(NAME)


class _Rasterize(torch.autograd.Function):
    """Composite depth-sorted Gaussians; inputs (M, ...) contiguous float32, boxes int32 (M, 2)."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, colors, lo, hi, width, height, absgrad):  # type: ignore[override]
        tensors = (means2d, conics, opacities, colors, lo, hi)
        rgb, acc, final_t, stop, offsets, ids = extension().forward(*tensors, width, height)
        ctx.save_for_backward(*tensors, final_t, stop, offsets, ids)
        ctx.size, ctx.absgrad = (width, height), absgrad
        return rgb, acc

    @staticmethod
    def backward(ctx, grad_rgb, grad_acc):  # type: ignore[override]
        means2d, conics, opacities, colors, lo, hi, final_t, stop, offsets, ids = ctx.saved_tensors
        g_means, g_conics, g_opac, g_colors, absgrad = extension().backward(
            means2d, conics, opacities, colors, lo, hi, *ctx.size, final_t, stop, offsets, ids,
            grad_rgb.contiguous(), grad_acc.contiguous(),
        )  # fmt: skip
        if ctx.absgrad is not None:
            buffer, index = ctx.absgrad
            buffer.index_add_(0, index, absgrad.to(buffer.dtype))
        return g_means, g_conics, g_opac, g_colors, None, None, None, None, None


def pixel_boxes(means2d: Tensor, radii: Tensor, width: int, height: int) -> tuple[Tensor, Tensor]:
    """[lo, hi) pixel ranges whose centres lie in each Gaussian's box (`render_torch.pixel_boxes`), as int32."""
    lo, hi = render_torch.pixel_boxes(means2d, radii.to(means2d.dtype), width, height)
    return lo.to(torch.int32).contiguous(), hi.to(torch.int32).contiguous()


def rasterize_image(
    proj: render_torch.Projection,
    camera: int,
    colors: Tensor,
    opacities: Tensor,
    width: int,
    height: int,
    background: Tensor | None,
    absgrad: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """`render_torch.rasterize_image` through the compiled rasterizer: rgb (H, W, 3), alpha (H, W, 1)."""
    visible = torch.nonzero((proj.radii[camera] > 0).all(-1)).squeeze(-1)
    order = torch.argsort(proj.depths[camera, visible].detach(), stable=True)  # front to back
    index = visible[order]
    means2d = proj.means2d[camera].index_select(0, index).float().contiguous()
    conics = proj.conics[camera].index_select(0, index).float().contiguous()
    lo, hi = pixel_boxes(means2d.detach(), proj.radii[camera].index_select(0, index), width, height)
    rgb, acc = _Rasterize.apply(
        means2d,
        conics,
        opacities.index_select(0, order).float().contiguous(),
        colors.index_select(0, order).float().contiguous(),
        lo,
        hi,
        width,
        height,
        None if absgrad is None else (absgrad, index),
    )
    if background is not None:
        rgb = rgb + (1.0 - acc)[:, None] * background
    return rgb.reshape(height, width, -1), acc.reshape(height, width, 1)


def rasterization(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """`render_torch.rasterization` (same arguments and outputs) with the compiled tile rasterizer."""
    return render_torch.rasterization(*args, **kwargs, rasterize=rasterize_image)


if __name__ == "__main__":  # `make setup`: compile now rather than in the first training step
    problem, ssim_problem = import_error(), ssim_cpu.import_error()
    print(f"CPU rasterizer: {problem or 'built in ' + str(native.BUILD_DIR)}")
    print(f"CPU SSIM: {ssim_problem or 'built in ' + str(native.BUILD_DIR)}")
    sys.exit(1 if problem or ssim_problem else 0)
