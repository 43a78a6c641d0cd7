"""Per-image appearance for `splatfacto-w-light`: each training photo's colour transform.

Photos of one place taken at different exposures and white balances disagree on every colour. Plain
splatfacto can only explain that with view-dependent colour (SH bands) and floaters in front of the
cameras, which is wrong from every new viewpoint. Splatfacto-W (Xu et al. 2024) and gsplat's
`simple_trainer.py --app_opt` give each training image an appearance embedding that changes colour.
Ours is the embedding that models what a camera does to a scene's colours: per image, a gain per
channel (kept as log gains, so exposure in stops is additive and white balance is the gains'
ratios) and an offset per channel (black level, haze), applied to the rendered image before the
loss. It has 6 numbers per image instead of an MLP, cannot paint
texture into a single view (so it cannot overfit held-out views' content), and bakes exactly into the
Gaussians' SH colours, so the delivered file needs no network to look right.

The transform acts on the Gaussians only (the offset scaled by each pixel's opacity), and nothing is
learned behind them: training sees exactly what the delivered Gaussians draw through that image's
transform over black, and the delivered file is all a viewer gets. Session 8's model learned a
background colour behind the Gaussians, which no .ply/.spz can carry: the Gaussians left gaps the
colour filled (fox, 600 CPU steps: 44 % of held-out pixels under 0.99 opacity, splatfacto 22 %), the
metrics composited that colour, and a viewer showed its own background there (held-out PSNR 25.8 dB
reported, 22.1 as delivered; now 25.2, both; docs/BENCHMARKS.md, session 9).

The delivered .ply/.spz hold the *neutral* appearance: the mean of the training images' transforms
(mean log gains, i.e. the geometric mean exposure and white balance; mean matrix and offset). The
transform has a gauge freedom (Gaussian colours x2, every gain /2 renders the same). It is pinned:
after every step the transforms are moved back to mean log gain 0 and mean offset 0 (`pin_gauge`),
so the neutral transform is the identity and the Gaussians' own colours are those of an average
training photo. Left free, the gains rose together early on (the first renders are dark: opacities
start at 0.1) while the Gaussians' colours fell to match (fox, 600 CPU steps: mean gain +0.18 stops
at the end); pinned, fox's held-out PSNR rose 0.24 dB plain and 0.1-0.85 dB by the NeRF-W protocol
over two seeds (docs/BENCHMARKS.md, session 9). `appearance_eval.py` scores held-out views by the
NeRF-W protocol.

The transform acts on rendered images, so the CPU (torch) and CUDA (gsplat) renderers train it alike.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gs_stages.gaussians import SH_C0
from gs_stages.splat.model import Params
from gs_stages.splat.presets import Preset

#: The appearance rates end at this share of their start (see `Appearance.step`).
FINAL_LR_FRACTION = 0.01


class Appearance:
    """The per-image colour transforms, with their own Adam."""

    def __init__(self, n_images: int, device: torch.device, lr: float, lr_offset: float):
        self.log_gain = torch.nn.Parameter(torch.zeros(n_images, 3, device=device))
        self.offset = torch.nn.Parameter(torch.zeros(n_images, 3, device=device))
        self.optimizer = torch.optim.Adam(
            [{"params": [self.log_gain], "lr": lr}, {"params": [self.offset], "lr": lr_offset}], eps=1e-15
        )
        self.base_lrs = (lr, lr_offset)

    # -- training -----------------------------------------------------------------------------------

    def matrix(self, index: int) -> tuple[Tensor, Tensor]:
        """(3x3 colour matrix, offset) of training image `index`; the matrix is diagonal (the gains)."""
        return torch.diag(torch.exp(self.log_gain[index])), self.offset[index]

    def apply(self, render: Tensor, alpha: Tensor, index: int) -> Tensor:
        """What training image `index` sees: the Gaussians' render over black (H, W, 3) and its opacity
        (H, W) through the image's colour transform, as the Gaussians with it baked in would draw over
        black (`bake`). Not clamped (the caller clamps)."""
        matrix, offset = self.matrix(index)
        return render @ matrix.T + alpha[..., None] * offset

    def parameters(self) -> list[Tensor]:
        return [self.log_gain, self.offset]

    def step(self, progress: float = 0.0) -> None:
        """One Adam step, its rates decayed log-linearly to FINAL_LR_FRACTION of their start as `progress`
        (completed share of the run) goes 0 -> 1.

        Why: the L1 loss's gradient with respect to an image's gain does not shrink near the optimum (it
        is sign-like), and Adam divides out its size, so at a fixed rate every gain keeps jumping by about
        the rate (0.05 = 5 % of every colour) each time its image is drawn, and the Gaussians are fitted to
        that jitter. The means' rate decays for the same reason."""
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * FINAL_LR_FRACTION ** min(max(progress, 0.0), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.pin_gauge()

    @torch.no_grad()
    def pin_gauge(self) -> None:
        """Keep the transforms' mean at the identity (mean log gain 0, mean offset 0): a projection after each
        step, so no global brightness or tint can move between the gains and the Gaussians' colours."""
        self.log_gain -= self.log_gain.mean(0)
        self.offset -= self.offset.mean(0)

    # -- the neutral appearance -----------------------------------------------------------------------

    @torch.no_grad()
    def neutral(self) -> tuple[Tensor, Tensor]:
        """(3x3 matrix, offset): the mean over the training images (log gains averaged)."""
        matrix = torch.diag(torch.exp(self.log_gain.mean(0)))
        return matrix, self.offset.mean(0)

    @torch.no_grad()
    def bake(self, params: Params) -> Params:
        """The Gaussians with the neutral transform folded into their SH colours (a new dict).

        A Gaussian's colour is SH_C0 * sh0 + 0.5 + (higher bands), linear in the coefficients, so
        M colour + b is again such a colour: sh0 -> M sh0 + (M 0.5 + b - 0.5) / SH_C0, bands -> M bands.
        """
        matrix, offset = self.neutral()
        half = torch.full((3,), 0.5, device=matrix.device)
        sh0 = params["sh0"] @ matrix.T + (matrix @ half + offset - half) / SH_C0
        baked = dict(params)
        baked["sh0"] = torch.nn.Parameter(sh0)
        baked["shN"] = torch.nn.Parameter(params["shN"] @ matrix.T)
        return baked

    # -- checkpoints and metrics ----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        tensors = {name: getattr(self, name).detach().cpu() for name in ("log_gain", "offset")}
        return {"tensors": tensors, "optimizer": self.optimizer.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for name, value in state["tensors"].items():
                getattr(self, name).copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])

    @torch.no_grad()
    def summary(self) -> dict[str, Any]:
        """For metrics.json: what the delivered colours are and how far the photos spread around them."""
        stops = self.log_gain.mean(1) / torch.log(torch.tensor(2.0))
        return {
            "model": "per-image gain and offset per channel, on the Gaussians (nothing learned behind them)",
            "neutral": "mean of the training images' transforms (geometric mean gain)",
            "exposure_spread_stops": round(float(stops.max() - stops.min()), 3) if len(stops) else 0.0,
        }


def for_preset(preset: Preset, n_images: int, device: torch.device) -> Appearance | None:
    """An `Appearance` when the preset has one (`splatfacto-w-light`), else None."""
    if not preset.appearance:
        return None
    return Appearance(n_images, device, preset.lr_appearance, preset.lr_appearance_offset)
