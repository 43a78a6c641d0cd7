"""The splat stage's nerfacto path: nerfstudio as an external trainer, its outputs in our layout.

nerfstudio pins its own stack (gsplat 1.4, opencv 4.10, timm 0.6, ...), so it runs from a venv of its
own: `make nerfstudio` builds .work/nerfstudio-venv, the GPU image /opt/venvs/nerfstudio. Which Python:
the engine setting `nerfstudio_python`, else GS_NERFSTUDIO_PYTHON, else the image's venv, else the
make-built one. The stage writes nerfstudio's input (`dataset.py`), runs `nerfacto_run.py` there, and
keeps in its output
    mesh.glb          nerfstudio's textured Poisson mesh, in the COLMAP model's world, one binary glTF
    point_cloud.ply   the coloured point cloud the mesh was made from (same world)
    metrics.json      held-out PSNR/SSIM (LPIPS with its weights) on the same photos as the splat models
A NeRF has no Gaussians: there is no splat.ply, and the spz stage delivers the mesh instead of a .spz.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from gs_stages.external_trainer import read_progress
from gs_stages.layout import MESH_GLB
from gs_stages.nerf.dataset import write_nerf_input
from gs_stages.stage import StageContext, StageError

PYTHON_SETTING = "nerfstudio_python"
PYTHON_ENV = "GS_NERFSTUDIO_PYTHON"
IMAGE_PYTHON = Path("/opt/venvs/nerfstudio/bin/python")
MAKE_VENV_PYTHON = Path(__file__).resolve().parents[3] / ".work" / "nerfstudio-venv" / "bin" / "python"
RUNNER = Path(__file__).with_name("nerfacto_run.py")
#: Engine settings of the nerfacto path (splat/settings.py lists them with the splat stage's).
SETTINGS = (PYTHON_SETTING, "nerfacto_export", "nerfacto_overrides")
#: Rays nerfstudio renders at once on a CPU, when it evaluates and when it textures the mesh (nerfacto's
#: `eval_num_rays_per_chunk`, 32768 in its method config) and when it samples the point cloud (the export's
#: `num_rays_per_batch`). On a CPU nerfacto's hash grid runs in PyTorch and the normals the Poisson export needs
#: are a gradient through it, so memory grows with the chunk: 32768 rays held 9.7 GB when the OOM killer ended
#: a CPU run's texturing (docs/BENCHMARKS.md, "nerfacto on the CPU"). 4096 is nerfstudio's own base-model default.
CPU_RAY_CHUNK = 4096
#: nerfstudio's mesh export on a CPU, unless `nerfacto_export` says otherwise: its GPU defaults (1 M points, 50k
#: faces, a 2048 px texture: 4.2 M rays through the field) would take hours there; a draft's texture is 256 px
#: (65,536 rays), the point cloud 20,000 points.
CPU_EXPORT = {"num_points": 20_000, "target_num_faces": 5_000, "num_pixels_per_side": 256}


def nerfstudio_python(settings: dict[str, Any]) -> str:
    """The interpreter of nerfstudio's venv, checked to import nerfstudio."""
    configured = str(settings.get(PYTHON_SETTING) or os.environ.get(PYTHON_ENV) or "").strip()
    candidate = configured or str(IMAGE_PYTHON if IMAGE_PYTHON.is_file() else MAKE_VENV_PYTHON)
    hint = (
        "build nerfstudio's venv with `make nerfstudio` (.work/nerfstudio-venv), or name its Python with the "
        f"engine setting {PYTHON_SETTING} or {PYTHON_ENV}"
    )
    if not Path(candidate).is_file():
        raise StageError(f"training.model nerfacto needs nerfstudio's venv; {candidate} does not exist", hint)
    probe = subprocess.run([candidate, "-c", "import nerfstudio.scripts.train"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise StageError(f"training.model nerfacto: {candidate} cannot import nerfstudio: {last}", hint)
    return candidate


def train_nerfacto(ctx: StageContext, device: str, test_every: int, lpips_weights: str | None) -> dict[str, Any]:
    """Train, evaluate and export nerfacto for the job; the splat stage's metrics for it."""
    python = nerfstudio_python(ctx.settings)  # refused before any I/O
    steps = int(ctx.spec.training.max_steps)
    with tempfile.TemporaryDirectory(prefix="gs-nerfacto-") as work_dir:
        work = Path(work_dir)
        split = write_nerf_input(
            ctx.input("frames"), ctx.input("sparse_model"), ctx.optional_input("masks"), work / "data", test_every
        )
        alexnet = _alexnet(lpips_weights)
        request = {
            "data": str(split.data),
            "masks": split.masks,
            "output": str(ctx.output),
            "work": str(work),
            "steps": steps,
            "device": device,
            "alexnet": alexnet,
            **_bounded(ctx.settings, device),
        }
        (work / "request.json").write_text(json.dumps(request))
        tracker = ctx.tracker("training", steps)
        process = subprocess.Popen(
            [python, str(RUNNER), str(work / "request.json"), str(work / "result.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},  # nerfstudio's checkpoints predate it
        )
        tail: deque[str] = deque(maxlen=30)
        assert process.stdout is not None
        for line in process.stdout:
            progress = read_progress(line)  # nerfacto_run.py's lines from inside nerfstudio's loop
            if progress is not None:
                tracker.update(*progress)
                continue
            tail.append(line.rstrip())
            ctx.log.debug("nerfstudio: %s", line.rstrip())
        code = process.wait()
        if code != 0 or not (work / "result.json").is_file():
            raise _failure(code, [t for t in list(tail)[-8:] if t.strip()])
        tracker.update(steps)
        result = json.loads((work / "result.json").read_text())
    metrics = _metrics(result, split.train, split.test, split.masks, device)
    metrics["nerfstudio_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    metrics["nerfstudio_ray_chunk"] = request["model_overrides"].get("eval_num_rays_per_chunk", "nerfacto's own")
    return metrics


def _bounded(settings: dict[str, Any], device: str) -> dict[str, Any]:
    """The request's export options and overrides: the engine settings', over CPU bounds on a CPU."""
    overrides = settings.get("nerfacto_overrides") or {}
    export = dict(settings.get("nerfacto_export") or {})
    model = dict(overrides.get("model", {}))
    if device != "cuda":
        export = {**CPU_EXPORT, "num_rays_per_batch": CPU_RAY_CHUNK, **export}
        model = {"eval_num_rays_per_chunk": CPU_RAY_CHUNK, **model}
    return {"export": export, "model_overrides": model, "datamanager_overrides": overrides.get("datamanager", {})}


def _failure(code: int, tail: list[str]) -> StageError:
    """What ended nerfstudio, in words: a signal (SIGKILL: most likely the out-of-memory killer) or its output."""
    said = " | ".join(tail) or "no output"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (most likely the out-of-memory killer: `dmesg` says)" if -code == signal.SIGKILL else ""
        return StageError(
            f"nerfacto (nerfstudio) was killed by {name}{why}; its last output: {said}",
            hint="give the job more memory, or lower the engine setting nerfacto_export (num_pixels_per_side, "
            "target_num_faces, num_points) or nerfacto_overrides.model.eval_num_rays_per_chunk",
        )
    return StageError(
        f"nerfacto (nerfstudio) failed (exit status {code}): {said}",
        hint="the stage log has nerfstudio's output; nerfacto needs a COLMAP model nerfstudio reads",
    )


def _alexnet(lpips_weights: str | None) -> str | None:
    """torchvision's AlexNet file in the LPIPS weights folder, if there is one (nerfstudio's LPIPS backbone)."""
    if not lpips_weights or lpips_weights.startswith("s3://"):
        return None
    path = Path(lpips_weights)
    candidates = [path] if path.is_file() else sorted(path.glob("alexnet*.pth")) if path.is_dir() else []
    return str(candidates[0]) if candidates and "alexnet" in candidates[0].name else None


def _metrics(result: dict[str, Any], train: list[str], test: list[str], masks: bool, device: str) -> dict[str, Any]:
    evaluation = result["evaluation"]
    if sorted(evaluation.get("views", [])) != sorted(test):
        raise StageError(f"nerfstudio evaluated {evaluation.get('views')}, not the held-out views {test}")
    metrics: dict[str, Any] = {
        "trained": True,
        "model": "nerfacto",
        "trainer": "nerfstudio",
        "device": device,
        "steps": result["steps"],
        "train_seconds": result["train_seconds"],
        "train_views": len(train),
        "test_views": len(test),
        "masks": masks,
        "psnr": evaluation.get("psnr"),
        "ssim": evaluation.get("ssim"),
        "lpips": evaluation.get("lpips"),
        "mesh_file": MESH_GLB,
        "mesh_vertices": result["mesh"]["vertices"],
        "mesh_faces": result["mesh"]["faces"],
        "point_cloud_points": result["mesh"]["points"],
        "no_spz_reason": "nerfacto is a NeRF: it has no Gaussians, so no .ply splat or .spz; it delivers a mesh",
    }
    if result.get("lpips_absent_reason"):
        metrics["lpips_absent_reason"] = result["lpips_absent_reason"]
    return metrics
