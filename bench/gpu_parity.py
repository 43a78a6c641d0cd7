#!/usr/bin/env python3
"""Do the PyTorch rasterizer and gsplat's CUDA rasterizer compute the same images and gradients?

Renders one set of Gaussians from several cameras with `gs_stages.splat.render_torch.rasterization`
and with `gsplat.rasterization` (1.5.3, packed=False, classic), then reports as JSON, on stdout and
in the file given as the first argument:
* image agreement: relative L2 error of the RGB renders (must be < 1e-3) and of the alphas, max
  abs difference, per camera;
* gradient agreement of a fixed random loss w.r.t. the raw parameters (means, log scales, quats,
  logit opacities, SH coefficients): cosine similarity and relative L2 error;
* what densification reads: agreement of means2d.grad and means2d.absgrad, and of the radii.

Splats: `--npz` (gsplat's assets/test_garden.npz: means3d, colors, viewmats, Ks, width, height),
a random subset of `--gaussians` points with scales from nearest-neighbour distances, random
rotations and opacities, SH DC from the colours plus small higher bands; without the file, random
splats in front of random cameras.

On the GPU host (python 3.12, torch with CUDA, gsplat 1.5.3 importable; gsplat JIT-compiles its
CUDA kernels on first use, which takes minutes once):
    PYTHONPATH=container:$GSPLAT_SITE python bench/gpu_parity.py parity.json \\
        --npz /path/to/test_garden.npz --gaussians 20000
Without a GPU, `--self-check` compares float32 against float64 PyTorch renders instead (plumbing).

`--lens` checks 3dgut's path (issue #12): both renderers get `with_ut=True, with_eval3d=True` and a
lens: `ut-pinhole` (no distortion), `radial` (OpenCV pinhole, SIMPLE_RADIAL/OPENCV-like terms, here
k1 -0.3, k2 0.1, p1 1e-3, p2 -1e-3), `fisheye` (OpenCV fisheye k 0.05, 0.01, -0.005, 0.001 with the
focal length halved: a field of view past 120 degrees). With 3D evaluation means2d has no gradient,
so only the parameters' gradients and the radii are compared. `--appearance` passes both renders
through one random splatfacto-w-light colour transform per camera (gains, offsets, a background)
before the loss, as training does after gsplat's rasterization (`appearance.py`).

    PYTHONPATH=container:$GSPLAT_SITE python bench/gpu_parity.py parity_fisheye.json --lens fisheye
    PYTHONPATH=container:$GSPLAT_SITE python bench/gpu_parity.py parity_wlight.json --appearance
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gs_stages.gaussians import rgb_to_sh_dc
from gs_stages.splat.appearance import Appearance
from gs_stages.splat.model import nearest_neighbour_distance, random_quats
from gs_stages.splat.render_torch import rasterization as torch_rasterization

IMAGE_TOLERANCE = 1e-3
GRADIENT_COSINE_MIN = 0.999
GRADIENT_RELATIVE_MAX = 1e-2
#: --lens: (camera_model, radial, tangential, focal length factor); None = the classic EWA path.
LENSES: dict[str, tuple[str, list[float], list[float] | None, float] | None] = {
    "none": None,
    "ut-pinhole": ("pinhole", [0.0] * 6, [0.0, 0.0], 1.0),
    "radial": ("pinhole", [-0.3, 0.1, 0.0, 0.0, 0.0, 0.0], [1e-3, -1e-3], 1.0),
    "fisheye": ("fisheye", [0.05, 0.01, -0.005, 0.001], None, 0.5),
}


def lens_kwargs(name: str, cameras: int, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """The rasterizer keyword arguments of `--lens` (the same for both renderers)."""
    lens = LENSES[name]
    if lens is None:
        return {}
    model, radial, tangential, _ = lens
    kwargs: dict[str, Any] = {"with_ut": True, "with_eval3d": True, "camera_model": model}
    if any(radial) or model == "fisheye":
        kwargs["radial_coeffs"] = torch.tensor([radial] * cameras, device=device, dtype=dtype)
    if tangential is not None and any(tangential):
        kwargs["tangential_coeffs"] = torch.tensor([tangential] * cameras, device=device, dtype=dtype)
    return kwargs


def appearance_transform(cameras: int, seed: int, device: torch.device) -> Appearance:
    """One splatfacto-w-light transform per camera: +-1 stop, +-20 % white balance, small offsets."""
    generator = torch.Generator().manual_seed(seed)
    appearance = Appearance(cameras, device, 0.0, 0.0)
    with torch.no_grad():
        appearance.log_gain.copy_((torch.rand(cameras, 3, generator=generator) - 0.5) * 2 * 0.69)
        appearance.offset.copy_((torch.rand(cameras, 3, generator=generator) - 0.5) * 0.1)
    return appearance


def load_splats(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Raw (pre-activation) parameters, cameras and image size, the same for both renderers."""
    generator = torch.Generator().manual_seed(args.seed)
    if args.npz and Path(args.npz).exists():
        data = np.load(args.npz)
        pick = torch.randperm(len(data["means3d"]), generator=generator)[: args.gaussians]
        means = torch.tensor(data["means3d"][pick.numpy()], dtype=torch.float32)
        rgb = data["colors"][pick.numpy()].astype(np.float32) / 255.0
        viewmats = torch.tensor(data["viewmats"], dtype=torch.float32)
        Ks = torch.tensor(data["Ks"], dtype=torch.float32)
        width, height = int(data["width"]), int(data["height"])
        source = f"{args.npz} ({args.gaussians} of {len(data['means3d'])} points)"
    else:
        means = torch.randn(args.gaussians, 3, generator=generator) * torch.tensor([1.5, 1.0, 1.0])
        rgb = torch.rand(args.gaussians, 3, generator=generator).numpy()
        viewmats = torch.eye(4).repeat(3, 1, 1)
        viewmats[:, 2, 3] = torch.tensor([5.0, 6.0, 4.0])
        viewmats[1, 0, 3], viewmats[2, 1, 3] = 0.5, -0.4
        width, height = 320, 240
        Ks = torch.tensor([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]]).repeat(3, 1, 1)
        source = f"random ({args.gaussians} Gaussians)"
    n = len(means)
    scale = nearest_neighbour_distance(means.to(device), k=3).cpu().clamp_min(1e-4)
    sh = torch.randn(n, 16, 3, generator=generator) * 0.05
    sh[:, 0] = torch.tensor(rgb_to_sh_dc(rgb))
    params = {
        "means": means,
        "scales": torch.log(scale)[:, None].repeat(1, 3) + torch.randn(n, 3, generator=generator) * 0.3,
        "quats": random_quats(n, generator),
        "opacities": torch.logit(torch.rand(n, generator=generator) * 0.9 + 0.05),
        "sh": sh,
    }
    return {
        "params": {k: v.to(device) for k, v in params.items()},
        "viewmats": viewmats.to(device),
        "Ks": Ks.to(device),
        "width": width,
        "height": height,
        "source": source,
    }


def render_and_backward(
    rasterize,
    splats: dict[str, Any],
    weights: torch.Tensor,
    dtype: torch.dtype,
    device,
    degree,
    lens: str = "none",
    appearance: Appearance | None = None,
):
    """Render all cameras, backpropagate sum(weights * rgb) + sum(alpha); return outputs and gradients.

    With `appearance`, rgb is each camera's render over black through its colour transform."""
    raw = {k: v.detach().to(device, dtype).requires_grad_() for k, v in splats["params"].items()}
    cameras = len(splats["viewmats"])
    eval3d = LENSES[lens] is not None
    f = LENSES[lens][3] if eval3d else 1.0
    focal = torch.tensor([[f, 1.0, 1.0], [1.0, f, 1.0], [1.0, 1.0, 1.0]])  # scales fx and fy only
    background = torch.tensor([[0.2, 0.4, 0.6]], device=device, dtype=dtype).repeat(cameras, 1)
    if appearance is not None:
        background = torch.zeros_like(background)
    start = time.perf_counter()
    rgb, alpha, info = rasterize(
        means=raw["means"],
        quats=raw["quats"],
        scales=torch.exp(raw["scales"]),
        opacities=torch.sigmoid(raw["opacities"]),
        colors=raw["sh"],
        viewmats=splats["viewmats"].to(dtype),
        Ks=splats["Ks"].to(dtype) * focal.to(splats["Ks"].device, dtype),
        width=splats["width"],
        height=splats["height"],
        sh_degree=degree,
        backgrounds=background,
        absgrad=not eval3d,
        **lens_kwargs(lens, cameras, splats["Ks"].device, dtype),
    )
    if not eval3d:
        info["means2d"].retain_grad()
    if appearance is not None:
        rgb = torch.stack([appearance.apply(rgb[c].float(), alpha[c, ..., 0].float(), c) for c in range(cameras)])
        rgb = rgb.to(dtype)
    loss = (rgb * weights.to(device, dtype)).sum() + alpha.sum()
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    grads = {k: v.grad.detach().double().cpu() for k, v in raw.items()}
    if not eval3d:
        grads["means2d"] = info["means2d"].grad.detach().double().cpu()
        grads["absgrad"] = info["means2d"].absgrad.detach().double().cpu()
    return rgb.detach().double().cpu(), alpha.detach().double().cpu(), info["radii"].cpu(), grads, seconds


def agreement(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Cosine similarity and relative L2 error of `a` against the reference `b`."""
    a, b = a.flatten(), b.flatten()
    norm = float(b.norm())
    cosine = float(torch.dot(a, b) / (a.norm() * b.norm())) if norm > 0 and float(a.norm()) > 0 else float("nan")
    return {"cosine": cosine, "rel_error": float((a - b).norm()) / norm if norm > 0 else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="gpu_parity.json", help="where to write the JSON report")
    parser.add_argument("--npz", default="/work/shared/data/gsplat_test_garden/test_garden.npz")
    parser.add_argument("--gaussians", type=int, default=20000)
    parser.add_argument("--sh-degree", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-device", default=None, help="device for the PyTorch renderer (default: cuda)")
    parser.add_argument("--self-check", action="store_true", help="no GPU: float32 vs float64 PyTorch")
    parser.add_argument("--lens", default="none", choices=sorted(LENSES), help="3dgut: UT + 3D evaluation lens")
    parser.add_argument("--appearance", action="store_true", help="splatfacto-w-light: colour transform per camera")
    args = parser.parse_args(argv)

    if args.self_check:
        device = torch.device("cpu")
        reference_name, reference, reference_dtype = "torch-float64", torch_rasterization, torch.float64
    else:
        if not torch.cuda.is_available():
            print("error: no CUDA device; use --self-check for a CPU-only run", file=sys.stderr)
            return 2
        import gsplat

        device = torch.device("cuda")
        reference_name, reference, reference_dtype = (
            f"gsplat-{gsplat.__version__}",
            gsplat.rasterization,
            torch.float32,
        )
    ours_device = torch.device(args.torch_device) if args.torch_device else device

    splats = load_splats(args, device)
    generator = torch.Generator().manual_seed(args.seed + 1)
    cameras = len(splats["viewmats"])
    weights = torch.rand(cameras, splats["height"], splats["width"], 3, generator=generator)
    extra: dict[str, Any] = {"lens": args.lens}

    def ours(**kwargs):
        return torch_rasterization(**kwargs)

    if reference is not torch_rasterization:

        def theirs(**kwargs):
            return reference(**kwargs, packed=False, rasterize_mode="classic")
    else:
        theirs = torch_rasterization

    # The reference runs twice: the first call of gsplat includes its JIT compilation.
    extra["appearance"] = appearance_transform(cameras, args.seed + 2, device) if args.appearance else None
    render_and_backward(theirs, splats, weights, reference_dtype, device, args.sh_degree, **extra)
    ref_rgb, ref_alpha, ref_radii, ref_grads, ref_seconds = render_and_backward(
        theirs, splats, weights, reference_dtype, device, args.sh_degree, **extra
    )
    if args.appearance and ours_device != device:
        extra["appearance"] = appearance_transform(cameras, args.seed + 2, ours_device)
    our_splats = {
        **splats,
        "viewmats": splats["viewmats"].to(ours_device),
        "Ks": splats["Ks"].to(ours_device),
    }
    rgb, alpha, radii, grads, seconds = render_and_backward(
        ours, our_splats, weights, torch.float32, ours_device, args.sh_degree, **extra
    )

    per_camera = [
        {
            "rgb_rel_error": float((rgb[c] - ref_rgb[c]).norm() / ref_rgb[c].norm()),
            "alpha_rel_error": float((alpha[c] - ref_alpha[c]).norm() / max(float(ref_alpha[c].norm()), 1e-12)),
            "rgb_max_abs": float((rgb[c] - ref_rgb[c]).abs().max()),
        }
        for c in range(cameras)
    ]
    image_error = float((rgb - ref_rgb).norm() / ref_rgb.norm())
    gradients = {name: agreement(grads[name], ref_grads[name]) for name in ref_grads}
    report = {
        "reference": reference_name,
        "ours": f"gs_stages render_torch on {ours_device}",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "splats": splats["source"],
        "cameras": cameras,
        "width": splats["width"],
        "height": splats["height"],
        "sh_degree": args.sh_degree,
        "lens": args.lens,
        "appearance": args.appearance,
        "image": {
            "rgb_rel_error": image_error,
            "alpha_rel_error": float((alpha - ref_alpha).norm() / ref_alpha.norm()),
            "rgb_max_abs": float((rgb - ref_rgb).abs().max()),
            "per_camera": per_camera,
        },
        "radii_equal_fraction": float((radii == ref_radii).all(-1).double().mean()),
        "visible_ours": int((radii > 0).all(-1).sum()),
        "visible_reference": int((ref_radii > 0).all(-1).sum()),
        "gradients": gradients,
        "seconds_forward_backward": {"ours": seconds, "reference": ref_seconds},
        "thresholds": {
            "rgb_rel_error_max": IMAGE_TOLERANCE,
            "gradient_cosine_min": GRADIENT_COSINE_MIN,
            "gradient_rel_error_max": GRADIENT_RELATIVE_MAX,
        },
    }
    parameter_grads = ("means", "scales", "quats", "opacities", "sh")
    report["image_pass"] = image_error < IMAGE_TOLERANCE
    report["gradients_pass"] = all(
        gradients[k]["cosine"] > GRADIENT_COSINE_MIN and gradients[k]["rel_error"] < GRADIENT_RELATIVE_MAX
        for k in parameter_grads
        if not math.isnan(gradients[k]["cosine"])
    )
    text = json.dumps(report, indent=2)
    Path(args.out).write_text(text + "\n")
    print(text)
    return 0 if report["image_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
