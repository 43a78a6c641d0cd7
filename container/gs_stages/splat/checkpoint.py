"""Resumable training state under `<output>/checkpoints/step-NNNNNN.pt`.

A checkpoint holds everything that decides the rest of the run: parameters, each Adam's state,
the densification strategy's running statistics, the number of completed steps, the remaining
view order, and every random generator (the run's own, torch's, CUDA's, numpy's, Python's). So a
run stopped at any point and started again continues as if it had never stopped, from the last
checkpoint. Files are written to a temporary name and renamed, so a kill mid-write never leaves a
truncated checkpoint behind; older ones beyond `keep` are deleted after a new one is complete.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gs_stages.stage import StageError

FORMAT = 1
_NAME = re.compile(r"step-(\d{6,})\.pt")


def path_for(directory: Path, step: int) -> Path:
    return Path(directory) / f"step-{step:06d}.pt"


def latest(directory: Path) -> Path | None:
    """The checkpoint with the most completed steps, or None."""
    found = [(int(m[1]), p) for p in Path(directory).glob("step-*.pt") if (m := _NAME.fullmatch(p.name))]
    return max(found)[1] if found else None


def step_of(path: Path) -> int:
    """The completed steps a checkpoint file holds, from its name."""
    found = _NAME.fullmatch(Path(path).name)
    if found is None:
        raise ValueError(f"{path} is not a checkpoint file name")
    return int(found[1])


def rng_states(generator: torch.Generator) -> dict[str, Any]:
    states: dict[str, Any] = {
        "run": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict[str, Any], generator: torch.Generator) -> None:
    generator.set_state(states["run"])
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(directory: Path, step: int, payload: dict[str, Any], keep: int = 2) -> Path:
    """Write `payload` (plus format and step) atomically; keep only the newest `keep` checkpoints."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = path_for(directory, step)
    partial = target.with_suffix(".pt.partial")
    torch.save({"format": FORMAT, "step": step, **payload}, partial)
    os.replace(partial, target)
    older = sorted(
        (int(m[1]), p) for p in directory.glob("step-*.pt") if (m := _NAME.fullmatch(p.name)) and p != target
    )
    for _, stale in older[: max(0, len(older) - max(keep, 1) + 1)]:
        stale.unlink(missing_ok=True)
    return target


def load(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint onto the CPU (RNG states must live there); refuse one written for another
    scene, preset or resolution, which could not resume."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt file: say which, do not guess
        raise StageError(f"checkpoint {path} is unreadable: {exc}", hint=f"delete {path} to start over") from exc
    if data.get("format") != FORMAT:
        raise StageError(f"checkpoint {path} has format {data.get('format')}, expected {FORMAT}")
    if data.get("fingerprint") != fingerprint:
        raise StageError(
            f"checkpoint {path} belongs to another run (scene, model or resolution differ)",
            hint=f"delete {Path(path).parent} to train from scratch",
        )
    return data
