"""Profile a window of training steps with torch.profiler (engine setting `profile_steps`).

Why: a run's time is a sum over tens of thousands of identical steps, so a window of a few hundred
steps in the middle shows where a step goes (rasterizer, SSIM, optimizer, densification, Python)
at the run's real Gaussian count. Profiling slows the window's steps and they count in
`train_seconds`, so a profiled run's time is not a benchmark figure.

Writes `profile.txt` (torch's table of operators and kernels, by device time, then by CPU time)
and returns a summary for metrics.json: the window, Gaussian count, and milliseconds per step with
the profiler on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

PROFILE_TXT = "profile.txt"


class StepProfiler:
    """Starts torch.profiler before step `start` and stops it after `steps` steps."""

    def __init__(self, start: int, steps: int, output: Path, device: torch.device, rows: int = 40):
        self.start, self.stop, self.output, self.device, self.rows = start, start + steps, output, device, rows
        self.profiler: torch.profiler.profile | None = None
        self.summary: dict[str, Any] | None = None
        self._clock = 0.0

    def before(self, step: int) -> None:
        if step == self.start and self.profiler is None and self.summary is None:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if self.device.type == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            _synchronize(self.device)
            self.profiler = torch.profiler.profile(activities=activities)
            self.profiler.__enter__()
            self._clock = time.perf_counter()

    def after(self, done: int, gaussians: int) -> None:
        if self.profiler is None or done < self.stop:
            return
        _synchronize(self.device)
        seconds = time.perf_counter() - self._clock
        self.profiler.__exit__(None, None, None)
        averages = self.profiler.key_averages()
        device_key = "device_time_total" if self.device.type == "cuda" else "cpu_time_total"
        lines = [
            f"steps {self.start}..{self.stop} ({self.stop - self.start} steps), {gaussians} Gaussians, "
            f"{1000 * seconds / (self.stop - self.start):.2f} ms per step with the profiler on",
            "",
            f"by {device_key}:",
            averages.table(sort_by=device_key, row_limit=self.rows),
            "",
            "by self_cpu_time_total:",
            averages.table(sort_by="self_cpu_time_total", row_limit=self.rows),
        ]
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.output.write_text("\n".join(lines) + "\n")
        self.summary = {
            "start": self.start,
            "steps": self.stop - self.start,
            "gaussians": gaussians,
            "ms_per_step_profiled": round(1000 * seconds / (self.stop - self.start), 3),
            "file": self.output.name,
        }
        self.profiler = None


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
