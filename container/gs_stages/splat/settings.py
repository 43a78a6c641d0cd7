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
* `lpips_weights`: LPIPS weights (`lpips.py`: torchvision's AlexNet file, optionally the v0.1 heads): a
  file or folder, or an s3:// key or prefix ending in "/"; without it, or without torchvision, LPIPS is
  reported unavailable with the reason.
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

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from gs_stages.settings_model import StageSettings, Whole, auto_or_at_least, one_of, refused

#: `train_max_side` "auto": nerfstudio's 1600 px on a GPU; 640 px on a CPU, where a draft must finish in minutes.
GPU_MAX_SIDE = 1600
CPU_MAX_SIDE = 640


def _device(value: str) -> str:
    if value in ("auto", "cpu", "cuda") or value.startswith("cuda:"):
        return value
    raise refused("is not a device", "device must be auto, cpu, cuda or cuda:N")


Count = Annotated[Whole, Field(ge=0)]
Device = Annotated[str, AfterValidator(_device)]


class EngineSettings(StageSettings):
    """The splat stage's engine settings (the module's docstring says what each does)."""

    device: Device = "auto"
    backend: Annotated[str, one_of("auto", "gsplat", "cpu", "torch")] = "auto"
    image_downscale: Annotated[int | str, auto_or_at_least(1)] = "auto"
    train_max_side: Annotated[int | str, auto_or_at_least(16)] = "auto"
    undistort: Annotated[str, one_of("crop", "colmap")] = "crop"
    checkpoint_every: Count = 2000
    keep_checkpoints: Count = 2
    test_every: Annotated[Whole, Field(ge=2)] = 8
    seed: Count = 0
    lpips_weights: str | None = None
    preset_overrides: dict[str, Any] = Field(default_factory=dict)
    strategy_impl: Annotated[str, one_of("builtin", "gsplat")] = "builtin"
    ssim: Annotated[str, one_of("auto", "fused", "torch")] = "auto"
    optimizer: Annotated[str, one_of("adam", "fused_adam", "selective_adam")] = "adam"
    stop_after: Annotated[Whole, Field(ge=1)] | None = None
    profile_steps: Count = 0
    profile_start: Count | None = None
    preview_views: Count = 4
    data_parallel_ranks: Annotated[Whole, Field(ge=1)] | None = None

    def max_side_on(self, device_type: str) -> int:
        """The longest training image side that "auto" downscaling aims for on this device ("cuda", "cpu")."""
        if self.train_max_side != "auto":
            return int(self.train_max_side)
        return GPU_MAX_SIDE if device_type == "cuda" else CPU_MAX_SIDE


#: The `--setting` names this stage reads (gs_stages.stage.check_settings refuses names no stage reads).
SETTING_NAMES: tuple[str, ...] = EngineSettings.setting_names()
