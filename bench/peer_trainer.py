"""Run the peer trainer, gsplat's `examples/simple_trainer.py`, unchanged, and report its metrics as one JSON.

The peer code is not part of this repository. Its `examples/` folder (gsplat v1.5.3) and the pure-Python
pycolmap fork it reads COLMAP models with (rmbrualla/pycolmap @ cc7ea4b) are fetched into the
git-ignored `.peer/` folder; this wrapper reads them from there and never edits them. What it changes
happens in memory, in this process only:

* `viser`, `nerfview` and `gsplat_viewer` are replaced by stub modules that hold only the names the
  trainer imports. The viewer is never started: the wrapper always passes `--disable_viewer`.
* torchmetrics' `LearnedPerceptualImagePatchSimilarity` is replaced by a stub whose score is NaN:
  LPIPS needs pretrained backbone weights (AlexNet/VGG) that torchvision downloads on first use, and
  the benchmark machine has no network. PSNR and SSIM are the peer's own torchmetrics values; the
  LPIPS column it reports is NaN and must not be compared.
* The pycolmap fork evaluates `np.uint64(-1)` in a class body (`SceneManager.INVALID_POINT3D`), which
  numpy 2 refuses (OverflowError). Its intended value is the largest uint64. For the duration of the
  fork's import only, `numpy.uint64` is wrapped so that a negative Python int wraps modulo 2**64;
  the real `numpy.uint64` is put back right after, and the resulting constant is checked.
  The fork is imported under the name `pycolmap`, ahead of the official pycolmap (our SfM uses that
  one), so run the peer in its own process, as this wrapper does.
* When `imageio_ffmpeg` is not installed, `--disable_video` is passed: the trajectory video that the
  trainer renders after evaluation needs ffmpeg. It is not part of training or metrics.

Then the trainer's own `if __name__ == "__main__":` block runs (tyro parses the arguments below,
`gsplat.distributed.cli` calls its `main`). The wrapper wraps `gsplat.distributed.cli` to time it.

What it reports (all from the peer's own files under `<result_dir>/stats/`, step = steps - 1):
  val_step{step}.json          psnr, ssim, lpips (NaN, see above), ellipse_time (s per image to
                               render), num_GS: the peer's evaluation on every `test_every`-th image
  train_step{step}_rank0.json  mem: torch.cuda.max_memory_allocated() in GiB at the last step;
                               ellipse_time: seconds from the first training step to the last one
                               (time.time(), no sync), which excludes data loading set-up, eval and
                               the checkpoint; num_GS
plus `wall_s` (the whole `main`: dataset load, training, eval, checkpoint) measured here.

Usage (GPU host; `--dry-run` also works without CUDA: it parses the arguments with the peer's own
tyro CLI and loads the dataset with the peer's own Parser, then stops before training):

    python bench/peer_trainer.py --examples .peer/gsplat-v1.5.3/examples \\
        --pycolmap .peer/pycolmap-cc7ea4b --mode default --data-dir SCENE --result-dir R \\
        --steps 7000 [--test-every 8] [--data-factor 1] [--json out.json] [-- extra tyro args]

SCENE is a COLMAP layout: SCENE/images/ and SCENE/sparse/0/{cameras,images,points3D}.bin.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import runpy
import sys
import time
import types
from pathlib import Path
from typing import Any

UINT64_MAX = 2**64 - 1


# --- stubs -----------------------------------------------------------------------------------------


def _stub_module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__file__ = f"<stub {name} from bench/peer_trainer.py>"
    sys.modules[name] = module
    return module


def _unavailable(what: str) -> type:
    class _Unavailable:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(f"{what} is a stub in bench/peer_trainer.py (the viewer is disabled)")

    _Unavailable.__name__ = what.rsplit(".", 1)[-1]
    return _Unavailable


def install_viewer_stubs() -> None:
    """viser / nerfview / gsplat_viewer: only the names simple_trainer.py imports at module level."""

    class _State:  # used in annotations and one isinstance check inside the viewer callback
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

    def apply_float_colormap(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("nerfview.apply_float_colormap is a stub in bench/peer_trainer.py")

    _stub_module("viser", ViserServer=_unavailable("viser.ViserServer"))
    _stub_module(
        "nerfview",
        CameraState=type("CameraState", (_State,), {}),
        RenderTabState=type("RenderTabState", (_State,), {}),
        Viewer=_unavailable("nerfview.Viewer"),
        apply_float_colormap=apply_float_colormap,
    )
    _stub_module(
        "gsplat_viewer",
        GsplatViewer=_unavailable("gsplat_viewer.GsplatViewer"),
        GsplatRenderTabState=type("GsplatRenderTabState", (_State,), {}),
    )


def install_lpips_stub() -> None:
    """LPIPS needs downloaded backbone weights; the stub scores NaN so nobody mistakes it for a value."""
    import torch
    import torchmetrics.image
    import torchmetrics.image.lpip

    class LPIPSUnavailable(torch.nn.Module):
        def __init__(self, net_type: str = "alex", normalize: bool = False, **kwargs: Any) -> None:
            super().__init__()
            self.net_type = net_type

        def forward(self, img1: torch.Tensor, img2: torch.Tensor) -> torch.Tensor:
            return torch.full((), float("nan"), device=img1.device)

    torchmetrics.image.lpip.LearnedPerceptualImagePatchSimilarity = LPIPSUnavailable
    torchmetrics.image.LearnedPerceptualImagePatchSimilarity = LPIPSUnavailable


def install_fused_ssim_stub() -> None:
    """--dry-run on a machine without CUDA only: the real fused_ssim is a CUDA extension."""
    if importlib.util.find_spec("fused_ssim") is not None:
        return

    def fused_ssim(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("fused_ssim is a stub (dry run)")

    _stub_module("fused_ssim", fused_ssim=fused_ssim)


def import_pycolmap_fork(fork_dir: Path) -> types.ModuleType:
    """Import the peer's pycolmap fork from `fork_dir`, with `np.uint64(-1)` meaning the uint64 max."""
    existing = sys.modules.get("pycolmap")
    if existing is not None:
        if hasattr(existing, "SceneManager"):
            return existing
        raise RuntimeError("the official pycolmap is already imported; the peer needs the fork under that name")
    if not (fork_dir / "pycolmap" / "scene_manager.py").is_file():
        raise FileNotFoundError(f"no pycolmap fork at {fork_dir} (expected pycolmap/scene_manager.py)")
    sys.path.insert(0, str(fork_dir))
    # Import what the fork imports first, so that only the fork's own module code runs while
    # numpy.uint64 is wrapped.
    import sqlite3  # noqa: F401

    import numpy as np
    import scipy.optimize  # noqa: F401

    real_uint64 = np.uint64

    def uint64_wrapping(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and type(args[0]) is int and args[0] < 0:
            return real_uint64(args[0] % 2**64)
        return real_uint64(*args, **kwargs)

    np.uint64 = uint64_wrapping
    try:
        module = importlib.import_module("pycolmap")
    finally:
        np.uint64 = real_uint64
    invalid = module.SceneManager.INVALID_POINT3D
    if type(invalid) is not real_uint64 or int(invalid) != UINT64_MAX:
        raise RuntimeError(f"pycolmap fork: INVALID_POINT3D is {invalid!r}, expected uint64 max")
    if not str(getattr(module, "__file__", "")).startswith(str(fork_dir)):
        raise RuntimeError(f"pycolmap was imported from {module.__file__}, not from the fork at {fork_dir}")
    return module


# --- run -------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def peer_argv(args: argparse.Namespace, disable_video: bool) -> list[str]:
    argv = [
        args.mode,
        "--data_dir",
        str(args.data_dir),
        "--data_factor",
        str(args.data_factor),
        "--result_dir",
        str(args.result_dir),
        "--max_steps",
        str(args.steps),
        "--eval_steps",
        str(args.steps),
        "--save_steps",
        str(args.steps),
        "--test_every",
        str(args.test_every),
        "--disable_viewer",
    ]
    if disable_video:
        argv.append("--disable_video")
    return argv + list(args.extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=Path, required=True, help="gsplat's examples/ folder (v1.5.3)")
    parser.add_argument("--pycolmap", type=Path, required=True, help="the pycolmap fork's source folder")
    parser.add_argument("--mode", choices=("default", "mcmc"), default="default")
    parser.add_argument("--data-dir", type=Path, required=True, help="COLMAP scene: images/ and sparse/0/")
    parser.add_argument("--result-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=7000)
    parser.add_argument("--test-every", type=int, default=8)
    parser.add_argument("--data-factor", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--dry-run", action="store_true", help="parse args and load the dataset, no training")
    parser.add_argument("extra", nargs="*", help="after --: more tyro arguments for simple_trainer.py")
    args = parser.parse_args(argv)

    examples = args.examples.resolve()
    trainer = examples / "simple_trainer.py"
    if not trainer.is_file():
        parser.error(f"{trainer} not found")
    disable_video = importlib.util.find_spec("imageio_ffmpeg") is None

    # Order matters: the fork must be `pycolmap` before datasets/colmap.py imports it, and the stubs
    # must be in sys.modules before simple_trainer.py imports them.
    import_pycolmap_fork(args.pycolmap.resolve())
    sys.path.insert(0, str(examples))
    install_viewer_stubs()
    install_lpips_stub()
    if args.dry_run:
        install_fused_ssim_stub()

    import datasets.colmap as peer_colmap  # the peer's module (examples/datasets/colmap.py)
    import gsplat
    import gsplat.distributed

    if not str(peer_colmap.__file__).startswith(str(examples)):
        raise RuntimeError(f"'datasets' resolved to {peer_colmap.__file__}, not the peer's examples folder")

    # Record what the peer's Parser saw (image count, sizes after undistortion, SfM points).
    seen: dict[str, Any] = {}

    class RecordingParser(peer_colmap.Parser):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            seen["parser"] = self

    peer_colmap.Parser = RecordingParser

    result: dict[str, Any] = {
        "side": "peer",
        "trainer": "gsplat examples/simple_trainer.py",
        "gsplat_version": gsplat.__version__,
        "mode": args.mode,
        "steps": args.steps,
        "data_dir": str(args.data_dir),
        "result_dir": str(args.result_dir),
        "test_every": args.test_every,
        "data_factor": args.data_factor,
        "lpips_note": "stub (NaN): backbone weights cannot be downloaded on the benchmark host",
        "trajectory_video": "skipped (no imageio_ffmpeg)" if disable_video else "rendered",
        "argv": peer_argv(args, disable_video),
    }
    real_cli = gsplat.distributed.cli
    timing: dict[str, float] = {}

    def timed_cli(fn: Any, cfg: Any, verbose: bool = False) -> Any:
        result["config"] = {
            k: (v if isinstance(v, (int, float, str, bool, type(None), list)) else repr(v))
            for k, v in vars(cfg).items()
        }
        if args.dry_run:
            parser_ = peer_colmap.Parser(
                data_dir=cfg.data_dir,
                factor=cfg.data_factor,
                normalize=cfg.normalize_world_space,
                test_every=cfg.test_every,
            )
            train = peer_colmap.Dataset(parser_, split="train")
            val = peer_colmap.Dataset(parser_, split="val")
            item = train[0]
            result["dry_run"] = {"first_train_image_shape": list(item["image"].shape)}
            result["num_train_images"], result["num_val_images"] = len(train), len(val)
            return None
        import torch

        # Load gsplat's compiled kernels now (a JIT build when not cached) so the timing excludes it.
        started = time.perf_counter()
        from gsplat.cuda._backend import _C

        if _C is None:
            raise RuntimeError("gsplat's CUDA extension did not load")
        timing["kernel_load_s"] = time.perf_counter() - started
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        out = real_cli(fn, cfg, verbose=verbose)
        torch.cuda.synchronize()
        timing["wall_s"] = time.perf_counter() - started
        result["max_memory_reserved_gib"] = torch.cuda.max_memory_reserved() / 1024**3
        return out

    gsplat.distributed.cli = timed_cli
    sys.argv = [str(trainer), *peer_argv(args, disable_video)]
    try:
        runpy.run_path(str(trainer), run_name="__main__")
    finally:
        gsplat.distributed.cli = real_cli

    parser_obj = seen.get("parser")
    if parser_obj is not None:
        n = len(parser_obj.image_names)
        n_val = sum(1 for i in range(n) if i % parser_obj.test_every == 0)
        result.update(
            num_images=n,
            num_train_images=n - n_val,
            num_val_images=n_val,
            image_sizes=sorted({tuple(v) for v in parser_obj.imsize_dict.values()}),
            num_sfm_points=len(parser_obj.points),
            undistorted=any(len(p) for p in parser_obj.params_dict.values()),
        )
    result.update({k: round(v, 3) for k, v in timing.items()})

    if not args.dry_run:
        step = args.steps - 1
        stats = args.result_dir / "stats"
        val = _read_json(stats / f"val_step{step:04d}.json")
        train = _read_json(stats / f"train_step{step:04d}_rank0.json")
        result["peer_stats"] = {"val": val, "train": train}
        if val:
            result.update(
                psnr=val.get("psnr"),
                ssim=val.get("ssim"),
                lpips=_finite(val.get("lpips")),
                render_s_per_image=val.get("ellipse_time"),
            )
        if train:
            result.update(
                num_gaussians=train.get("num_GS"),
                train_s=train.get("ellipse_time"),
                peak_mem_gib=train.get("mem"),
            )
        result["ok"] = bool(val and train)
    else:
        result["ok"] = True

    text = json.dumps(result, default=str)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(text, flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
