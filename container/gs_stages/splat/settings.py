"""Engine settings of the splat stage: knobs that are not part of the job JSON (`ctx.settings`).

They come from `--setting NAME=VALUE` on the CLI, from the launcher, or from tests. The settings dict
is shared by every stage of a chain, so names of other stages are ignored here; a name no stage reads
is refused before any stage runs (`gs_stages.stage.check_settings`).

* `device` = "auto": CUDA when available, else CPU; or "cpu", "cuda", "cuda:N".
* `backend` = "auto": gsplat's CUDA rasterizer on CUDA when gsplat imports; on a CPU the compiled tile
  rasterizer (`render_cpu`) when it builds; else the PyTorch one; or "gsplat", "cpu", "torch".
* `image_downscale` = "auto": an integer factor, or the smallest power of two that brings the
  longest image side to <= `train_max_side` (nerfstudio's COLMAP rule).
* `train_max_side` = "auto": the longest side "auto" downscaling aims for: 1600 px on CUDA
  (nerfstudio's rule), 640 px on a CPU, where every pixel costs training time (a 300-step draft of a
  1296x720 video trains at 324x180 in minutes, not at full size in 23); or an integer >= 16.
* `undistort` = "crop": how distorted cameras become pinholes (`scene.py`): "crop" (OpenCV's
  alpha=0 camera cropped to valid pixels, as nerfstudio's and gsplat's loaders) or "colmap" (COLMAP's
  undistorter, the whole field of view).
* `checkpoint_every` = 2000: save a resumable checkpoint every N steps (nerfstudio's
  steps_per_save); 0 = only at the end. `keep_checkpoints` = 2: how many of the newest to keep.
* `test_every` = 8: held-out split, image i (name order) is held out when i % test_every == 0.
* `seed` = 0: seeds every random choice of the run (view order, backgrounds, splits, MCMC).
* `lpips_weights`: LPIPS (AlexNet backbone, v0.1 heads) weights, see `metrics.py`: a file or folder,
  or an s3:// key or prefix ending in "/"; without it LPIPS is reported absent.
* `preset_overrides` = {}: preset fields to replace, e.g. {"num_downscales": 0} (`presets.py`).
* `strategy_impl` = "builtin": `densify.py`, or "gsplat" (gsplat.strategy, for comparison runs).
* `ssim` = "auto": the D-SSIM loss's implementation: "fused" (the fused-ssim CUDA kernel, same
  window and constants, "valid" region), "torch" (`metrics.ssim_separable`, PyTorch), or "auto" (fused
  when it imports on CUDA, the compiled `ssim_cpu` on a CPU where it builds, else the PyTorch one).
* `optimizer` = "adam": torch's Adam (multi-tensor); "fused_adam" (torch's single-kernel Adam, the
  same update); or "selective_adam" (gsplat's fused kernel that updates only the Gaussians seen in
  this step's view; Taming 3DGS; it also skips Adam's bias correction).
* `stop_after`: stop as if killed after this many steps (checkpoint-resume drills and tests).
* `profile_steps` = 0: profile this many training steps with torch.profiler, starting at step
  `profile_start` (default: the middle of the run); writes `profile.txt` (`profiling.py`).
* `preview_views` = 4: held-out views shown in `preview.png`.
* `data_parallel_ranks`: with `training.enableMultiGpu`, how many processes train the one splat
  (`data_parallel.py`); default every visible GPU, and one process on a CPU (set it to try the
  multi-GPU logic there, with gloo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gs_stages.errors import StageError

#: `train_max_side` "auto": nerfstudio's 1600 px on a GPU; 640 px on a CPU, where a draft must finish in minutes.
GPU_MAX_SIDE = 1600
CPU_MAX_SIDE = 640


@dataclass(frozen=True)
class EngineSettings:
    device: str = "auto"
    backend: str = "auto"
    image_downscale: int | str = "auto"
    train_max_side: int | str = "auto"
    undistort: str = "crop"
    checkpoint_every: int = 2000
    keep_checkpoints: int = 2
    test_every: int = 8
    seed: int = 0
    lpips_weights: str | None = None
    preset_overrides: dict[str, Any] = field(default_factory=dict)
    strategy_impl: str = "builtin"
    ssim: str = "auto"
    optimizer: str = "adam"
    stop_after: int | None = None
    profile_steps: int = 0
    profile_start: int | None = None
    preview_views: int = 4
    data_parallel_ranks: int | None = None

    @classmethod
    def from_mapping(cls, settings: dict[str, Any]) -> EngineSettings:
        """Read this stage's names from `ctx.settings`, checking each value; other stages' names are ignored."""
        known = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        values = cls(**known)
        values._check()
        return values

    def _check(self) -> None:
        problems = []
        if self.backend not in ("auto", "gsplat", "cpu", "torch"):
            problems.append(f"backend must be auto, gsplat, cpu or torch, got {self.backend!r}")
        if not (self.device in ("auto", "cpu", "cuda") or str(self.device).startswith("cuda:")):
            problems.append(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.image_downscale != "auto" and not (_is_int(self.image_downscale) and self.image_downscale >= 1):
            problems.append(f"image_downscale must be 'auto' or an integer >= 1, got {self.image_downscale!r}")
        if self.train_max_side != "auto" and not (_is_int(self.train_max_side) and self.train_max_side >= 16):
            problems.append(f"train_max_side must be 'auto' or an integer >= 16, got {self.train_max_side!r}")
        for name in ("checkpoint_every", "keep_checkpoints", "seed", "preview_views", "profile_steps"):
            if not (_is_int(getattr(self, name)) and getattr(self, name) >= 0):
                problems.append(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if not (_is_int(self.test_every) and self.test_every >= 2):
            problems.append(f"test_every must be an integer >= 2, got {self.test_every!r}")
        if self.stop_after is not None and not (_is_int(self.stop_after) and self.stop_after >= 1):
            problems.append(f"stop_after must be an integer >= 1, got {self.stop_after!r}")
        if self.data_parallel_ranks is not None and not (
            _is_int(self.data_parallel_ranks) and self.data_parallel_ranks >= 1
        ):
            problems.append(f"data_parallel_ranks must be an integer >= 1, got {self.data_parallel_ranks!r}")
        if self.profile_start is not None and not (_is_int(self.profile_start) and self.profile_start >= 0):
            problems.append(f"profile_start must be an integer >= 0, got {self.profile_start!r}")
        if self.strategy_impl not in ("builtin", "gsplat"):
            problems.append(f"strategy_impl must be builtin or gsplat, got {self.strategy_impl!r}")
        if self.undistort not in ("crop", "colmap"):
            problems.append(f"undistort must be crop or colmap, got {self.undistort!r}")
        if self.ssim not in ("auto", "fused", "torch"):
            problems.append(f"ssim must be auto, fused or torch, got {self.ssim!r}")
        if self.optimizer not in ("adam", "fused_adam", "selective_adam"):
            problems.append(f"optimizer must be adam, fused_adam or selective_adam, got {self.optimizer!r}")
        if not isinstance(self.preset_overrides, dict):
            problems.append(f"preset_overrides must be a JSON object, got {self.preset_overrides!r}")
        if problems:
            raise StageError("invalid splat settings: " + "; ".join(problems))

    def max_side_on(self, device_type: str) -> int:
        """The longest training image side that "auto" downscaling aims for on this device ("cuda", "cpu")."""
        if self.train_max_side != "auto":
            return int(self.train_max_side)
        return GPU_MAX_SIDE if device_type == "cuda" else CPU_MAX_SIDE


#: The `--setting` names this stage reads (gs_stages.stage.check_settings refuses names no stage reads).
SETTING_NAMES: tuple[str, ...] = tuple(EngineSettings.__dataclass_fields__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
