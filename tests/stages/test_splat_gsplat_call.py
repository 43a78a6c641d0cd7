"""The CUDA path without a GPU: what `render_gsplat` hands to `gsplat.rasterization` for 3dgut and w-light.

This machine has no GPU, so gsplat's kernels cannot run here. These tests run the splat stage with
the gsplat adapter in place of the PyTorch renderer, against a stand-in `gsplat` module that checks
each call as gsplat 1.5.3 does (its parameter names, its UT preconditions and coefficient shapes)
and then renders with our PyTorch rasterizer, so the stage trains and evaluates end to end. Where the
real gsplat imports (the GPU host), each recorded call is also bound to its real signature.
bench/gpu_parity.py --lens ... / --appearance compares the renders themselves on the GPU.
"""

from __future__ import annotations

import inspect
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from gs_stages.cli import run_stage
from gs_stages.splat import render_gsplat, render_torch
from gs_stages.splat import stage as splat_stage

from .jobs import make_spec
from .lens_scenes import make_lens_scene
from .splat_scenes import SyntheticScene

#: gsplat 1.5.3 `rasterization`'s parameters (gsplat/rendering.py at tag v1.5.3).
GSPLAT_153_PARAMETERS = {
    "means",
    "quats",
    "scales",
    "opacities",
    "colors",
    "viewmats",
    "Ks",
    "width",
    "height",
    "near_plane",
    "far_plane",
    "radius_clip",
    "eps2d",
    "sh_degree",
    "packed",
    "tile_size",
    "backgrounds",
    "render_mode",
    "sparse_grad",
    "absgrad",
    "rasterize_mode",
    "channel_chunk",
    "distributed",
    "camera_model",
    "segmented",
    "covars",
    "with_ut",
    "with_eval3d",
    "radial_coeffs",
    "tangential_coeffs",
    "thin_prism_coeffs",
    "ftheta_coeffs",
    "rolling_shutter",
    "viewmats_rs",
}
try:  # the real gsplat, where it imports (the GPU host), before any test puts the stand-in in its place
    import gsplat as REAL_GSPLAT
except Exception:  # ImportError here; a broken CUDA build elsewhere
    REAL_GSPLAT = None
QUICK = {"num_downscales": 0, "sh_degree_interval": 20, "refine_every": 10, "warmup_length": 10}


def _checked_rasterization(calls: list[dict[str, Any]]):
    def rasterization(**kwargs: Any):
        unknown = set(kwargs) - GSPLAT_153_PARAMETERS
        assert not unknown, f"not gsplat 1.5.3 parameters: {unknown}"
        cameras = kwargs["viewmats"].shape[0]
        distorted = kwargs.get("radial_coeffs") is not None or kwargs.get("tangential_coeffs") is not None
        assert kwargs.get("with_ut", False) or not distorted, "gsplat: distortion needs with_ut=True"
        if kwargs.get("with_ut") or kwargs.get("with_eval3d"):
            assert kwargs["packed"] is False and kwargs["sparse_grad"] is False
        assert kwargs.get("camera_model", "pinhole") in ("pinhole", "ortho", "fisheye", "ftheta")
        if kwargs.get("radial_coeffs") is not None:
            size = 4 if kwargs["camera_model"] == "fisheye" else 6
            assert kwargs["radial_coeffs"].shape == (cameras, size)
        if kwargs.get("tangential_coeffs") is not None:
            assert kwargs["tangential_coeffs"].shape == (cameras, 2)
        calls.append(kwargs)
        ours = {k: v for k, v in kwargs.items() if k not in ("packed", "sparse_grad", "rasterize_mode", "render_mode")}
        return render_torch.rasterization(**ours)

    return rasterization


@pytest.fixture
def gsplat_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call the stage makes to `gsplat.rasterization` (a checking stand-in), the adapter selected."""
    calls: list[dict[str, Any]] = []
    fake = types.ModuleType("gsplat")
    fake.__version__ = "1.5.3"  # type: ignore[attr-defined]
    fake.rasterization = _checked_rasterization(calls)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gsplat", fake)
    monkeypatch.setattr(splat_stage, "pick_renderer", lambda name, device: ("gsplat", render_gsplat.rasterization))
    return calls


@pytest.fixture(scope="module")
def fisheye(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScene:
    return make_lens_scene(tmp_path_factory.mktemp("fisheye-dry"), "OPENCV_FISHEYE", 160.0, 9, 48, 36)


def _run(scene: SyntheticScene, output: Path, model: str, steps: int = 6) -> dict[str, Any]:
    spec = make_spec(**{"training.maxSteps": steps, "training.model": model})
    settings = {"device": "cpu", "image_downscale": 1, "preset_overrides": QUICK}
    return run_stage("splat", spec, {"frames": scene.frames, "sparse_model": scene.sparse}, output, settings)


def _bind_to_real_gsplat(calls: list[dict[str, Any]]) -> None:
    if REAL_GSPLAT is not None:
        for kwargs in calls:
            inspect.signature(REAL_GSPLAT.rasterization).bind(**kwargs)


def test_3dgut_calls_gsplat_with_the_ut_and_the_fisheye_lens(
    gsplat_calls: list[dict[str, Any]], fisheye: SyntheticScene, tmp_path: Path
) -> None:
    metrics = _run(fisheye, tmp_path / "3dgut", "3dgut")
    assert metrics["backend"] == "gsplat" and metrics["undistorted"] is False
    assert metrics["lenses"] == ["fisheye with distortion"]
    # 6 training steps, then the held-out views twice (plain and NeRF-W protocol) and the preview.
    assert len(gsplat_calls) >= 6
    for call in gsplat_calls:
        assert call["with_ut"] is True and call["with_eval3d"] is True and call["camera_model"] == "fisheye"
        assert torch.allclose(call["radial_coeffs"].cpu(), torch.tensor([[0.03, -0.01, 0.002, 0.0]]))
        assert call.get("tangential_coeffs") is None  # the fisheye model has none
        assert call["rasterize_mode"] == "classic" and call["absgrad"] is False  # MCMC: no absgrad
    _bind_to_real_gsplat(gsplat_calls)


def test_w_light_calls_gsplat_plainly_and_applies_its_appearance_after(
    gsplat_calls: list[dict[str, Any]], fisheye: SyntheticScene, tmp_path: Path
) -> None:
    metrics = _run(fisheye, tmp_path / "w-light", "splatfacto-w-light")
    assert metrics["backend"] == "gsplat" and metrics["undistorted"] is True  # not 3dgut: undistorted
    assert "appearance" in metrics and metrics["psnr_nerfw"] is not None
    for call in gsplat_calls:
        assert not {"with_ut", "with_eval3d", "camera_model", "radial_coeffs"} & set(call)
        # over black (no learned background since session 9) or one colour per camera, never a per-image transform
        assert call.get("backgrounds") is None or call["backgrounds"].shape == (1, 3)
    _bind_to_real_gsplat(gsplat_calls)
