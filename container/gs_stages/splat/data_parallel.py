"""One splat trained on every GPU of the instance (`training.enableMultiGpu`): data parallel over cameras.

Each process (a rank, one per GPU) holds the whole model and renders a different training view every
step; the gradients are averaged across ranks, so every rank applies the same Adam update and the
copies stay identical. A step thus sees `world` views (a batch), and the run takes `max_steps / world`
steps: the job's `maxSteps` keeps meaning "views trained on", and every schedule counted in steps
(densification, SH degree, coarse-to-fine, the means' decay) is divided by `world` with it. The
learning rates grow by sqrt(world), the square-root rule for Adam at a larger batch that gsplat's own
trainer applies to its batches.

Why not gsplat's `distributed=True`: that mode splits the Gaussians across GPUs, which pays when one GPU
cannot hold the model. Ours fits easily (1 M Gaussians take about 2 GiB of an A10G's 24 GiB) while
rasterizing views is 70 % of a step (docs/BENCHMARKS.md), so handing each GPU its own view divides the
part that costs. It also runs on the CPU with torch.distributed's gloo backend, so the tests exercise it.

Densification stays identical on every rank: the default strategy's per-Gaussian statistics (summed
screen gradients, visibility counts, largest footprint) are summed, or maxed, across ranks right
before each refinement (`DefaultStrategy.before_refine`); MCMC reads only the parameters. Every random
draw comes from the run's generator, seeded alike, so all ranks draw the same numbers.

Processes start with torch.multiprocessing (spawn) inside the splat stage and meet on a loopback TCP
port: no launcher (torchrun, mpirun) is needed, locally or in the SageMaker container. Rank 0 writes the
checkpoints; the stage then resumes from the final one in its own process to evaluate and export.
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue as queue_module
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor

from gs_stages.progress import ProgressTracker
from gs_stages.splat.presets import Preset
from gs_stages.stage import StageError

#: Preset fields counted in steps: divided by the number of ranks.
STEP_FIELDS = (
    "lr_means_max_steps",
    "sh_degree_interval",
    "resolution_schedule",
    "warmup_length",
    "refine_every",
    "stop_split_at",
    "stop_screen_size_at",
    "reset_alpha_quiet_steps",
    "robust_mask_start",
)
#: Gaussian learning rates: multiplied by sqrt(ranks).
LR_FIELDS = (
    "lr_means",
    "lr_means_final",
    "lr_features_dc",
    "lr_features_rest",
    "lr_opacities",
    "lr_scales",
    "lr_quats",
)


def scaled_preset(preset: Preset, world: int) -> Preset:
    """The preset for `world` ranks, each step a batch of `world` views (see the module docstring)."""
    if world == 1:
        return preset
    steps = {name: max(1, round(getattr(preset, name) / world)) for name in STEP_FIELDS if getattr(preset, name)}
    rates = {name: getattr(preset, name) * math.sqrt(world) for name in LR_FIELDS}
    return dataclasses.replace(preset, **steps, **rates)


def scaled_steps(max_steps: int, world: int) -> int:
    return max(1, math.ceil(max_steps / world))


@dataclass
class DataParallel:
    """This process's place in the group, and the collective operations the training loop calls."""

    rank: int
    world: int

    @property
    def writer(self) -> bool:
        """Only rank 0 writes checkpoints (all ranks hold the same state)."""
        return self.rank == 0

    def pick(self, draws: list[int]) -> int:
        """Of the `world` views drawn for this step (alike on every rank), this rank's."""
        return draws[self.rank]

    @torch.no_grad()
    def average_gradients(self, tensors: list[Tensor]) -> None:
        """Average `.grad` across ranks; a missing gradient counts as zero (no Gaussian of it was seen)."""
        grads = []
        for tensor in tensors:
            if tensor.grad is None:
                tensor.grad = torch.zeros_like(tensor)
            grads.append(tensor.grad)
        flat = torch.cat([g.reshape(-1) for g in grads])  # one collective, not one per tensor
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    @torch.no_grad()
    def union(self, mask: Tensor) -> Tensor:
        """Seen by any rank (SelectiveAdam must update every Gaussian some rank's gradient reached)."""
        counts = mask.to(torch.int32)
        dist.all_reduce(counts, op=dist.ReduceOp.MAX)
        return counts.bool()

    @torch.no_grad()
    def merge_refine_state(self, state: dict[str, Any], n: int, device: torch.device) -> None:
        """Before a refinement: the default strategy's statistics of every rank, summed (radii: maxed)."""
        for key in ("grad2d", "count", "radii"):
            if state.get(key) is None:
                state[key] = torch.zeros(n, device=device)
        dist.all_reduce(state["grad2d"], op=dist.ReduceOp.SUM)
        dist.all_reduce(state["count"], op=dist.ReduceOp.SUM)
        dist.all_reduce(state["radii"], op=dist.ReduceOp.MAX)


def ranks_for(enable: bool, device: torch.device, requested: int | None) -> tuple[int, str | None]:
    """How many ranks train, and a note when the flag could not be honoured as asked.

    On CUDA: every visible GPU (or `requested`). On the CPU: `requested` processes (gloo), else one,
    since splitting two cores between processes buys nothing.
    """
    if not enable:
        return 1, None
    if device.type == "cuda":
        visible = torch.cuda.device_count()
        if requested is not None and requested > visible:
            raise StageError(
                f"data_parallel_ranks={requested} but only {visible} GPU(s) are visible",
                hint=f"use data_parallel_ranks <= {visible}, or leave it unset for every GPU",
            )
        world = requested or visible
        if world < 2:
            return 1, f"enableMultiGpu: {visible} GPU visible on this instance, trained on one"
        return world, None
    if requested and requested > 1:
        return requested, None
    return 1, "enableMultiGpu: no GPU, trained in one CPU process"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QueueTracker:
    """Rank 0's stand-in for the stage's ProgressTracker: updates cross to the parent through a queue."""

    def __init__(self, updates: Any, every: int):
        self.updates, self.every, self.last = updates, max(1, every), -1

    def due(self, step: int) -> bool:
        return self.last < 0 or step - self.last >= self.every

    def update(self, step: int, figures: dict[str, Any] | None = None, **_: Any) -> bool:
        self.last = step
        self.updates.put(("progress", step, dict(figures or {})))
        return True


@torch.no_grad()
def divergence(params: dict[str, Tensor], world: int) -> float:
    """Largest difference between ranks of each parameter's sum and of the count: 0.0 when in step."""
    device = params["means"].device
    count = torch.tensor(float(len(params["means"])), dtype=torch.float64, device=device)
    mine = torch.stack([*(p.detach().double().sum() for p in params.values()), count])
    every = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    return max(float((other - every[0]).abs().max()) for other in every)


def _worker(rank: int, world: int, port: int, job: dict[str, Any], updates: Any) -> None:
    from gs_stages.splat.backend import pick_renderer
    from gs_stages.splat.train import Trainer

    settings, preset = job["settings"], job["preset"]
    cuda = job["device_type"] == "cuda"
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        _, renderer = pick_renderer(settings.backend, device)
        torch.manual_seed(settings.seed)
        trainer = Trainer(job["scene"], preset, settings, renderer, device, Path(job["checkpoint_dir"]))
        trainer.parallel = DataParallel(rank, world)
        tracker = QueueTracker(updates, job["report_every"]) if rank == 0 else None
        result = trainer.run(job["steps"], tracker=tracker)
        gap = divergence(result.params, world)
        peak = torch.tensor([float(torch.cuda.max_memory_allocated(device)) if cuda else 0.0], device=device)
        peaks = [torch.zeros_like(peak) for _ in range(world)]
        dist.all_gather(peaks, peak)
        if rank == 0:
            updates.put(("divergence", gap))
            if cuda:
                updates.put(("peak_memory_bytes_per_rank", [int(p.item()) for p in peaks]))
    finally:
        dist.destroy_process_group()


def train_ranks(
    world: int,
    scene: Any,
    preset: Preset,
    settings: Any,
    device: torch.device,
    checkpoint_dir: Path,
    steps: int,
    tracker: ProgressTracker | None = None,
) -> dict[str, Any]:
    """Train on `world` ranks until the final checkpoint is written; the caller resumes from it.

    `preset` and `steps` are already scaled (`scaled_preset`, `scaled_steps`). A rank that fails stops
    the group and raises here with its error. Returns what the ranks report: `rank_divergence`, the
    largest difference between the ranks' final parameters (0.0: they stayed in step).
    """
    context = mp.get_context("spawn")
    updates = context.Queue()
    job = {
        "scene": scene,
        "preset": preset,
        "settings": settings,
        "device_type": device.type,
        "checkpoint_dir": str(checkpoint_dir),
        "steps": steps,
        "report_every": max(1, steps // 100),
    }
    done = threading.Event()
    report: dict[str, Any] = {}

    def relay() -> None:  # rank 0's progress, to the stage's tracker (Pipes messages live in this process)
        while not (done.is_set() and updates.empty()):
            try:
                kind, *payload = updates.get(timeout=0.5)
            except queue_module.Empty:
                continue
            if kind in ("divergence", "peak_memory_bytes_per_rank"):
                report["rank_divergence" if kind == "divergence" else kind] = payload[0]
            elif tracker is not None and tracker.due(payload[0]):
                tracker.update(payload[0], payload[1])

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    try:
        mp.start_processes(_worker, args=(world, _free_port(), job, updates), nprocs=world, start_method="spawn")
    except mp.ProcessRaisedException as exc:
        raise StageError(f"multi-GPU training failed on a rank: {str(exc).strip().splitlines()[-1]}") from exc
    finally:
        done.set()
        thread.join(timeout=5)
    return report
