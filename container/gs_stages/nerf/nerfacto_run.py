"""nerfacto through nerfstudio's own API, run by the Python of nerfstudio's venv (not the stage venv).

The splat stage (`trainer.py`) starts this file as a script with one request JSON; it imports nothing
from gs_stages. Steps, each nerfstudio's own code:
1. train nerfacto (`nerfstudio.scripts.train.main`) on the folder `dataset.py` wrote, our split in its
   *_list.txt files, with normals predicted (the Poisson export needs them);
2. evaluate the held-out views (`pipeline.get_average_eval_image_metrics`, what `ns-eval` runs);
3. export the textured mesh (`ExportPoissonMesh`, what `ns-export poisson` runs: mesh.obj + its material
   and texture), and its point cloud;
4. take the mesh and the point cloud back from nerfstudio's normalised frame to the COLMAP model's world
   (its dataparser transform and scale, inverted), the textured mesh as one binary glTF (`mesh.glb`).

LPIPS in nerfstudio needs torchvision's ImageNet AlexNet, which it would download. With no `alexnet`
weights file in the request, torchmetrics' LPIPS (which nerfacto builds) is replaced by one that yields
NaN, and the result says LPIPS is absent and why; PSNR and SSIM do not depend on it.
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

#: The file name torchvision caches ImageNet AlexNet under (torch hub's checkpoints folder).
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
#: As gs_stages.external_trainer.PROGRESS_PREFIX (nothing is imported from gs_stages here): the stage turns
#: these lines into progress updates; at most one per REPORT_EVERY_S, and always the run's last step.
PROGRESS_PREFIX = "GS_PROGRESS "
REPORT_EVERY_S = 2.0


def report_progress(trainer_class: Any, every_s: float = REPORT_EVERY_S) -> None:
    """Make nerfstudio's trainer print progress lines. Its own progress goes to rich and its writers, which
    the stage cannot read through a pipe. `train_main` builds the trainer, so the class method
    `train_iteration(step)` (steps from 0; `max_num_iterations` of them in this run) is wrapped."""
    wrapped = trainer_class.train_iteration
    sent = {"at": -math.inf}

    def train_iteration(self: Any, step: int) -> Any:
        output = wrapped(self, step)
        done = step + 1
        if time.monotonic() - sent["at"] >= every_s or done >= self._start_step + self.config.max_num_iterations:
            sent["at"] = time.monotonic()
            loss = float(output[0])
            line = {"step": done, "figures": {"loss": round(loss, 5)} if math.isfinite(loss) else {}}
            print(PROGRESS_PREFIX + json.dumps(line), flush=True)
        return output

    trainer_class.train_iteration = train_iteration


def _prepare_lpips(alexnet: str | None, work: Path) -> str | None:
    """Point torch hub at the given AlexNet, or switch nerfacto's LPIPS off; the reason when absent."""
    if alexnet:
        checkpoints = work / "torch-home" / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(alexnet, checkpoints / ALEXNET_FILE)
        os.environ["TORCH_HOME"] = str(work / "torch-home")
        return None
    import torch
    from torchmetrics.image import lpip

    class NoLPIPS(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.tensor(float("nan"))

    # nerfacto imports it from here when it builds the model (populate_modules)
    lpip.LearnedPerceptualImagePatchSimilarity = lambda **_: NoLPIPS()  # type: ignore[assignment]
    return f"no LPIPS AlexNet weights ({ALEXNET_FILE}) were given; nerfstudio would download them"


def _config(request: dict[str, Any], work: Path) -> Any:
    from nerfstudio.configs.method_configs import method_configs
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    config = method_configs["nerfacto"]
    steps = int(request["steps"])
    config.output_dir = work / "outputs"
    config.experiment_name = "nerfacto"
    config.timestamp = "run"
    config.max_num_iterations = steps
    config.steps_per_save = steps
    config.steps_per_eval_batch = config.steps_per_eval_image = config.steps_per_eval_all_images = 10 * steps
    config.save_only_latest_checkpoint = True
    config.vis = "tensorboard"
    config.viewer.quit_on_train_completion = True
    config.machine.device_type = request["device"]
    config.mixed_precision = request["device"] == "cuda"
    config.machine.seed = int(request.get("seed", 42))
    config.pipeline.datamanager.dataparser = ColmapDataParserConfig(
        data=Path(request["data"]),
        colmap_path=Path("colmap/sparse/0"),
        images_path=Path("images"),
        masks_path=Path("masks") if request.get("masks") else None,
        downscale_factor=int(request.get("downscale", 1)),
    )
    model = config.pipeline.model
    model.predict_normals = True  # the Poisson export reads the model's normals
    if request["device"] != "cuda":
        model.implementation = "torch"  # tiny-cuda-nn's hash grid is CUDA only
    for key, value in request.get("model_overrides", {}).items():
        setattr(model, key, value)
    for key, value in request.get("datamanager_overrides", {}).items():
        setattr(config.pipeline.datamanager, key, value)
    return config


def _evaluate(config_path: Path) -> dict[str, Any]:
    from nerfstudio.utils.eval_utils import eval_setup

    _, pipeline, _, step = eval_setup(config_path, test_mode="test")
    found = pipeline.get_average_eval_image_metrics(get_std=False)
    names = [p.name for p in pipeline.datamanager.eval_dataset.image_filenames]
    return {"step": step, "views": names, **{k: float(v) for k, v in found.items()}}


def _to_world(config_path: Path) -> Any:
    """4x4 from nerfstudio's normalised frame back to the COLMAP model's world."""
    import numpy as np

    saved = json.loads((config_path.parent / "dataparser_transforms.json").read_text())
    forward = np.eye(4)
    forward[:3, :] = np.array(saved["transform"])
    scale = np.diag([1.0 / saved["scale"]] * 3 + [1.0])
    return np.linalg.inv(forward) @ scale


def _export(config_path: Path, out: Path, request: dict[str, Any]) -> dict[str, Any]:
    import trimesh
    from nerfstudio.scripts.exporter import ExportPoissonMesh

    mesh_dir = out / "mesh"
    export = request.get("export", {})
    ExportPoissonMesh(
        load_config=config_path,
        output_dir=mesh_dir,
        num_points=int(export.get("num_points", 1_000_000)),
        target_num_faces=int(export.get("target_num_faces", 50_000)),
        num_pixels_per_side=int(export.get("num_pixels_per_side", 2048)),
        num_rays_per_batch=int(export.get("num_rays_per_batch", 32768)),
        save_point_cloud=True,
        texture_method="nerf",
    ).main()
    to_world = _to_world(config_path)
    mesh = trimesh.load(mesh_dir / "mesh.obj", force="mesh", process=False)
    mesh.apply_transform(to_world)
    mesh.export(out / "mesh.glb")
    cloud = trimesh.load(mesh_dir / "point_cloud.ply")
    cloud.apply_transform(to_world)
    cloud.export(out / "point_cloud.ply")
    return {"vertices": len(mesh.vertices), "faces": len(mesh.faces), "points": len(cloud.vertices)}


def run(request: dict[str, Any]) -> dict[str, Any]:
    out = Path(request["output"])
    work = Path(request["work"])
    lpips_absent = _prepare_lpips(request.get("alexnet"), work)
    from nerfstudio.engine.trainer import Trainer
    from nerfstudio.scripts.train import main as train_main

    report_progress(Trainer)

    config = _config(request, work)
    started = time.perf_counter()
    train_main(config)
    train_seconds = time.perf_counter() - started
    config_path = config.get_base_dir() / "config.yml"
    evaluation = _evaluate(config_path)
    mesh = _export(config_path, out, request)
    if lpips_absent:
        evaluation.pop("lpips", None)
        evaluation.pop("lpips_std", None)
    return {
        "steps": int(request["steps"]),
        "train_seconds": round(train_seconds, 3),
        "evaluation": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in evaluation.items()},
        "lpips_absent_reason": lpips_absent,
        "mesh": mesh,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("request", type=Path)
    parser.add_argument("result", type=Path)
    args = parser.parse_args(argv)
    result = run(json.loads(args.request.read_text()))
    args.result.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
