"""The splat stage's 3dgrt path: NVIDIA 3DGRUT as an external trainer, its splat in our layout.

The stage writes 3DGRUT's input (`dataset.py`), runs `grt_run.py` with 3DGRUT's Python (`environment.py`)
and keeps in its output, as every splat model does, so the spz stage and delivery work unchanged:
    splat.ply      3DGRUT's exported Gaussians rewritten in our .ply convention (export/ply.py): the same
                   3DGS attributes and activations (environment.py lists them); non-finite rows dropped
    cameras.json   the posed views, for the viewer
    metrics.json   held-out PSNR/SSIM (LPIPS with its VGG weights) from 3DGRUT's own evaluation of the
                   test split, which must be ours (checked by name)
3DGRT is trained with Gaussian particles (`render.particle_kernel_degree=2`, TRACER_CONFIG) rather than
3DGRUT's default degree-4 generalised kernel, so the delivered .ply/.spz mean what every splat viewer
draws, and traced through icosahedron hulls (`render.primitive_type=icosahedron`): at the pinned commit
3DGRUT's default `instances` BVH misses every ray (its pipeline declares a single-GAS graph; upstream PR
#268 fixes it) and its OPTIX_CHECK drops the error, so training ran blind (GPU round 9, BENCHMARKS.md).
`python -m gs_stages.grt.trainer` is a dry run: it writes the input and prints the command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gs_stages.export.cameras import CAMERAS_JSON, camera_entry, write_cameras
from gs_stages.export.ply import read_ply, write_ply
from gs_stages.external_trainer import check_held_out, run_logged
from gs_stages.gaussians import Gaussians
from gs_stages.grt.dataset import GrtInput, write_grt_input
from gs_stages.grt.environment import GRUT_COMMIT, configured_python, grt_python
from gs_stages.layout import IMAGES_DIR, SPARSE_DIR, SPLAT_PLY
from gs_stages.splat.settings import EngineSettings
from gs_stages.stage import StageContext, StageError

RUNNER = Path(__file__).with_name("grt_run.py")
#: The config and the render settings the ray tracer is compiled for; the image's build step compiles it
#: from this same file (container/Dockerfile), so a job's tracer is the prebuilt one.
TRACER_CONFIG = Path(__file__).with_name("tracer_config.json")
SAFE_VALUE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:")


def _value(text: str) -> str:
    """A hydra override value: as it is when plain, else single-quoted (paths with spaces, '=' ...)."""
    if set(text) <= SAFE_VALUE:
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def auto_factor(frames: Path, names: list[str], settings: EngineSettings) -> int:
    """The image downscale, as the splat stage chooses it on CUDA (3DGRT runs there only)."""
    if settings.image_downscale != "auto":
        return int(settings.image_downscale)
    longest = 0
    for name in names:
        with Image.open(Path(frames) / IMAGES_DIR / name) as image:
            longest = max(longest, *image.size)
    return 2 ** max(0, math.ceil(math.log2(longest / settings.max_side_on("cuda"))))


def request_for(grt: GrtInput, work: Path, steps: int, settings: EngineSettings, extra: list[str]) -> dict[str, Any]:
    """The runner's request: 3DGRUT's config name and every override, the tracer's first."""
    tracer = json.loads(TRACER_CONFIG.read_text())
    overrides = [
        *tracer["overrides"],
        f"path={_value(str(grt.data))}",
        f"out_dir={_value(str(work / 'runs'))}",
        "experiment_name=3dgrt",
        f"n_iterations={steps}",
        f"dataset.test_split_interval={settings.test_every}",
        f"dataset.downsample_factor={grt.downsample_factor}",
        "dataset.load_exif=false",  # EXIF exposures feed only its PPISP post-processing, off here
        f"seed_initialization={settings.seed}",
        "checkpoint.iterations=[]",  # ckpt_last.pt only
        "export_ply.enabled=true",
        f"export_ply.path={_value(str(work / 'export_last.ply'))}",
        "test_last=true",
        "compute_extra_metrics=true",
        f"num_workers={min(8, os.cpu_count() or 1)}",
        "use_wandb=false",
        "with_gui=false",
        *extra,
    ]
    return {"config_name": tracer["config_name"], "overrides": overrides, "work": str(work)}


def command(python: str, work: Path) -> list[str]:
    """What the stage executes (the request and result files live in `work`)."""
    return [python, str(RUNNER), str(work / "request.json"), str(work / "result.json")]


def prepare(
    frames: Path,
    sparse_model: Path,
    masks: Path | None,
    work: Path,
    steps: int,
    settings: EngineSettings,
    ctx_settings: dict[str, Any],
) -> tuple[GrtInput, dict[str, Any]]:
    """Write 3DGRUT's input and the request under `work` (the stage and the dry run alike)."""
    from gs_stages.nerf.dataset import posed_names

    extra = ctx_settings.get("grt_overrides") or []
    if not isinstance(extra, list) or not all(isinstance(o, str) for o in extra):
        raise StageError(f"grt_overrides must be a list of hydra overrides (strings), got {extra!r}")
    names = posed_names(Path(sparse_model) / SPARSE_DIR)
    factor = auto_factor(frames, names, settings)
    grt = write_grt_input(frames, sparse_model, masks, work / "data", settings.test_every, factor)
    request = request_for(grt, work, steps, settings, extra)
    vgg = _vgg16(settings.lpips_weights)
    request["vgg16"] = vgg
    (work / "request.json").write_text(json.dumps(request, indent=1))
    return grt, request


def train_3dgrt(ctx: StageContext, device: str, settings: EngineSettings) -> dict[str, Any]:
    """Train 3DGRT for the job with 3DGRUT; the splat stage's output and metrics."""
    python = grt_python(ctx.settings)  # refused before any I/O, saying what is missing where
    if device != "cuda":
        raise StageError(
            f"training.model 3dgrt ray-traces with OptiX on an NVIDIA GPU; this stage runs on {device}",
            hint="run the job on a GPU instance (the SageMaker image carries 3DGRUT), or pick a model our trainer runs",
        )
    steps = int(ctx.spec.training.max_steps)
    with tempfile.TemporaryDirectory(prefix="gs-3dgrt-") as work_dir:
        work = Path(work_dir)
        inputs = (ctx.input("frames"), ctx.input("sparse_model"), ctx.optional_input("masks"))
        grt, _ = prepare(*inputs, work, steps, settings, ctx.settings)
        tracker = ctx.tracker("training", steps)
        argv = command(python, work)
        ctx.log.info("3dgrt: %s", shlex.join(argv))
        hint = "the stage log has 3DGRUT's output"
        run_logged(argv, ctx.log, "3dgrt (3DGRUT)", work / "result.json", hint=hint, tracker=tracker)
        tracker.update(steps)
        return finish(json.loads((work / "result.json").read_text()), grt, ctx.input("sparse_model"), ctx.output)


def finish(result: dict[str, Any], grt: GrtInput, sparse_model: Path, output: Path) -> dict[str, Any]:
    """The runner's result -> the splat stage's output: our .ply, the posed views, the metrics."""
    output.mkdir(parents=True, exist_ok=True)
    kept = convert_ply(Path(result["ply"]), output / SPLAT_PLY)
    write_cameras(output / CAMERAS_JSON, _cameras(sparse_model), axes="training (the sparse model's world)")
    return metrics(result, grt, kept)


def convert_ply(source: Path, target: Path) -> dict[str, int]:
    """3DGRUT's exported .ply -> ours; rows with a non-finite value are dropped (counted)."""
    try:
        found = read_ply(source)
    except (OSError, ValueError) as exc:
        raise StageError(f"3DGRUT's exported splat cannot be read: {exc}") from None
    finite = np.isfinite(found.means).all(1) & np.isfinite(found.scales).all(1) & np.isfinite(found.quats).all(1)
    finite &= np.isfinite(found.opacities) & np.isfinite(found.sh).all((1, 2))
    if not finite.any():
        raise StageError(f"3DGRUT's exported splat has no finite Gaussian ({len(found)} rows)")
    kept = Gaussians(
        means=found.means[finite],
        scales=found.scales[finite],
        quats=found.quats[finite],
        opacities=found.opacities[finite],
        sh=found.sh[finite],
    )
    write_ply(target, kept)
    return {"exported": len(found), "kept": int(finite.sum()), "sh_degree": kept.degree}


def metrics(result: dict[str, Any], grt: GrtInput, kept: dict[str, int]) -> dict[str, Any]:
    evaluation = result["evaluation"]
    check_held_out(evaluation.get("views"), grt.test, "3DGRUT")
    found: dict[str, Any] = {
        "trained": True,
        "model": "3dgrt",
        "trainer": "3dgrut",
        "trainer_commit": GRUT_COMMIT,
        "device": "cuda",
        "gpu": result.get("gpu"),
        "steps": result["steps"],
        "train_seconds": result["train_seconds"],
        "num_gaussians": kept["kept"],
        "non_finite_dropped": kept["exported"] - kept["kept"],
        "sh_degree": kept["sh_degree"],
        "train_views": len(grt.train),
        "test_views": len(grt.test),
        "image_downscale": grt.downsample_factor,
        "masks": grt.masks,
        "psnr": evaluation.get("psnr"),
        "ssim": evaluation.get("ssim"),
        "lpips": evaluation.get("lpips"),
        "eval_renderer": "3DGRT ray tracing (3DGRUT's own test pass), over black",
    }
    if result.get("lpips_absent_reason"):
        found["lpips_absent_reason"] = result["lpips_absent_reason"]
    return found


def _vgg16(lpips_weights: str | None) -> str | None:
    """torchvision's VGG16 file in the LPIPS weights folder, if there is one (3DGRUT's LPIPS backbone)."""
    if not lpips_weights or lpips_weights.startswith("s3://") or not Path(lpips_weights).is_dir():
        return None
    found = sorted(Path(lpips_weights).glob("vgg16*.pth"))
    return str(found[0]) if found else None


def _cameras(sparse_model: Path) -> list[dict[str, Any]]:
    import pycolmap

    reconstruction = pycolmap.Reconstruction(str(Path(sparse_model) / SPARSE_DIR))
    views = []
    for image in reconstruction.images.values():
        if image.has_pose:
            camera = reconstruction.cameras[image.camera_id]
            viewmat = np.eye(4)
            viewmat[:3, :] = image.cam_from_world().matrix()
            views.append(camera_entry(image.name, viewmat, camera.calibration_matrix(), camera.width, camera.height))
    return views


def main(argv: list[str] | None = None) -> int:
    """Dry run: write 3DGRUT's input for a frames folder and a sparse model, print what would run."""
    parser = argparse.ArgumentParser(description="3dgrt dry run: 3DGRUT's input and the exact command")
    parser.add_argument("--frames", type=Path, required=True)
    parser.add_argument("--sparse-model", type=Path, required=True)
    parser.add_argument("--masks", type=Path)
    parser.add_argument("--work", type=Path, required=True, help="an empty folder for the input and request")
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--settings", default="{}", help="engine settings as JSON (grt_python, grt_overrides, ...)")
    args = parser.parse_args(argv)
    ctx_settings = json.loads(args.settings)
    settings = EngineSettings.from_mapping(ctx_settings)
    args.work.mkdir(parents=True, exist_ok=True)
    grt, request = prepare(args.frames, args.sparse_model, args.masks, args.work, args.steps, settings, ctx_settings)
    print(shlex.join(command(configured_python(ctx_settings), args.work)))
    print(
        "# as 3DGRUT's own CLI: python train.py --config-name "
        + shlex.join([request["config_name"] + ".yaml", *request["overrides"]])
    )
    print(f"# held out ({len(grt.test)}): {' '.join(grt.test)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
