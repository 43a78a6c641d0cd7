"""3DGRT through 3DGRUT's own code, run by the Python of 3DGRUT's environment (not the stage venv).

The splat stage (`trainer.py`) starts this file as a script with one request JSON; it imports nothing
from gs_stages. Steps, each 3DGRUT's own code (its commit: environment.py):
1. compose the config as its `train.py` does (hydra, `apps/colmap_3dgrt`, the request's overrides);
2. train (`Trainer3DGRUT.run_training`): at the end it exports the .ply (`export_ply`), saves
   `ckpt_last.pt` and evaluates the held-out split (`test_last`: `Renderer.render_all` -> metrics.json);
3. name the views it held out, from its own test dataset (`threedgrut.datasets.make_test`).

`--build` compiles the ray tracer for the request's render settings and puts the module where
`load_3dgrt_plugin` imports it before compiling (the image's build step: no job compiles at start).

LPIPS in 3DGRUT is torchmetrics' VGG LPIPS, whose backbone torchvision would download. With no `vgg16`
weights file in the request it is replaced by one that yields NaN and the result says why; PSNR and SSIM
do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

#: The file name torchvision caches ImageNet VGG16 under (torch hub's checkpoints folder).
VGG_FILE = "vgg16-397923af.pth"
#: gs_stages.external_trainer.PROGRESS_PREFIX (this script imports nothing from gs_stages): the stage reads
#: these lines into its progress tracker. One every PROGRESS_EVERY_S at most, and the last step always.
PROGRESS_PREFIX = "GS_PROGRESS "
PROGRESS_EVERY_S = 2.0


def report_progress(trainer: Any, every_s: float = PROGRESS_EVERY_S) -> None:
    """Print a progress line after 3DGRUT's training steps: its own progress is a terminal bar (rich), which
    a pipe turns into nothing the stage can read. Wraps the instance's `log_training_iter`, which 3DGRUT
    calls once per step after counting it (`global_step` is then the number of steps done)."""
    original = trainer.log_training_iter
    last = [-math.inf]

    def log_training_iter(gpu_batch: Any, outputs: Any, batch_metrics: dict[str, Any], *args: Any) -> None:
        original(gpu_batch, outputs, batch_metrics, *args)
        now, step = time.monotonic(), int(trainer.global_step)
        if now - last[0] < every_s and step < trainer.n_iterations:
            return
        last[0] = now
        figures = {"Gaussians": int(trainer.model.num_gaussians)}
        loss = _mean(batch_metrics.get("losses", {}).get("total_loss"))
        if loss is not None:
            figures["loss"] = round(loss, 5)
        print(PROGRESS_PREFIX + json.dumps({"step": step, "figures": figures}), flush=True)

    trainer.log_training_iter = log_training_iter


def _mean(value: Any) -> float | None:
    """A loss as 3DGRUT keeps it (a float, a tensor, or a list of either) as one finite float, else None."""
    values = value if isinstance(value, list | tuple) else [value]
    try:
        numbers = [float(v.item() if hasattr(v, "item") else v) for v in values]
    except (TypeError, ValueError):
        return None
    mean = sum(numbers) / len(numbers) if numbers else math.nan
    return mean if math.isfinite(mean) else None


def _lpips_backbone(vgg: str | None, work: Path) -> str | None:
    """Point torch hub at the given VGG16 weights, or switch LPIPS off; the reason when it is off."""
    if vgg:
        hub = work / "torch-home" / "hub" / "checkpoints"
        hub.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(vgg, hub / VGG_FILE)
        os.environ["TORCH_HOME"] = str(work / "torch-home")
        return None
    import torch
    from torchmetrics.image import lpip

    class NaNLPIPS(torch.nn.Module):
        def forward(self, *_: Any) -> torch.Tensor:
            return torch.tensor(float("nan"))

    # trainer.py and render.py import the class from here by name: replaced before they are imported
    lpip.LearnedPerceptualImagePatchSimilarity = lambda **_: NaNLPIPS()  # type: ignore[assignment]
    return f"no LPIPS VGG16 weights ({VGG_FILE}) were given; torchmetrics would download them"


def _cuda_home() -> None:
    """The OptiX programs compile at run time (NVRTC) against CUDA's headers at $CUDA_HOME/include: the
    image carries them in this environment (sys.prefix/cuda), since its runtime base has no toolkit."""
    carried = Path(sys.prefix) / "cuda"
    if "CUDA_HOME" not in os.environ and (carried / "include").is_dir():
        os.environ["CUDA_HOME"] = str(carried)


def compose(request: dict[str, Any]) -> Any:
    """3DGRUT's config for the request, composed as its train.py composes it."""
    import threedgrut
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("int_list"):  # train.py registers it at import
        OmegaConf.register_new_resolver("int_list", lambda values: [int(v) for v in values])
    import threedgrut.utils.misc  # registers the `div` and `eq` resolvers

    configs = Path(threedgrut.__file__).resolve().parents[1] / "configs"
    with initialize_config_dir(config_dir=str(configs), version_base=None):
        return hydra_compose(config_name=request["config_name"], overrides=list(request["overrides"]))


def build(request: dict[str, Any]) -> dict[str, Any]:
    """Compile the 3DGRT tracer for this config and place it where `load_3dgrt_plugin` imports it first."""
    import threedgrt_tracer
    from threedgrt_tracer.setup_3dgrt import setup_3dgrt

    started = time.perf_counter()
    conf = compose(request)
    module = setup_3dgrt(conf)
    target = Path(threedgrt_tracer.__file__).with_name("lib3dgrt_cc.so")
    shutil.copyfile(module.__file__, target)
    target.with_suffix(".render.json").write_text(json.dumps(_tracer_settings(conf), indent=1, sort_keys=True))
    return {"module": str(target), "build_seconds": round(time.perf_counter() - started, 3)}


def _tracer_settings(conf: Any) -> dict[str, Any]:
    """What the compiled tracer depends on (setup_3dgrt.py's defines): the render and feature settings."""
    from omegaconf import OmegaConf

    return {"render": OmegaConf.to_container(conf.render, resolve=True), "feature_type": str(conf.model.feature_type)}


def _check_prebuilt(conf: Any) -> None:
    """A prebuilt tracer is imported whatever the config: refuse one compiled for other render settings."""
    import threedgrt_tracer

    built = Path(threedgrt_tracer.__file__).with_name("lib3dgrt_cc.render.json")
    if built.is_file() and json.loads(built.read_text()) != _tracer_settings(conf):
        raise SystemExit(
            f"the prebuilt 3DGRT tracer ({built.with_suffix('').with_suffix('.so')}) was compiled for other "
            "render settings than this run's (grt_overrides changed render.*): put them in "
            "gs_stages/grt/tracer_config.json and rebuild the image"
        )


def _held_out_views(conf: Any) -> list[str]:
    from threedgrut import datasets

    test = datasets.make_test(name=conf.dataset.type, config=conf)
    folder = Path(conf.path) / test.get_images_folder()
    return [os.path.relpath(path, folder) for path in test.image_paths]


def train(request: dict[str, Any]) -> dict[str, Any]:
    work = Path(request["work"])
    lpips_absent = _lpips_backbone(request.get("vgg16"), work)
    conf = compose(request)
    _check_prebuilt(conf)
    import torch
    from threedgrut.trainer import Trainer3DGRUT

    started = time.perf_counter()
    trainer = Trainer3DGRUT(conf)
    report_progress(trainer)
    trainer.run_training()  # ends with the .ply export, ckpt_last.pt and the held-out evaluation
    seconds = time.perf_counter() - started
    run_dir = Path(trainer.tracking.output_dir)
    found = json.loads((run_dir / "metrics.json").read_text())
    evaluation = {
        "psnr": found.get("mean_psnr"),
        "ssim": found.get("mean_ssim"),
        "lpips": None if lpips_absent else found.get("mean_lpips"),
        "views": _held_out_views(conf),
    }
    return {
        "steps": int(trainer.global_step),
        "train_seconds": round(seconds, 3),  # training, export, checkpoint and the held-out evaluation
        "num_gaussians": int(trainer.model.num_gaussians),
        "evaluation": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in evaluation.items()},
        "lpips_absent_reason": lpips_absent,
        "ply": str(conf.export_ply.path),
        "run_dir": str(run_dir),
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("request", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--build", action="store_true", help="compile the ray tracer only (image build)")
    args = parser.parse_args(argv)
    request = json.loads(args.request.read_text())
    _cuda_home()
    result = build(request) if args.build else train(request)
    args.result.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
