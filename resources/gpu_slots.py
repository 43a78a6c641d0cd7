"""GPU slots for local runs: each launch holds one of the host's GPUs while its stages run.

Why: on a workstation with several GPUs every local run would otherwise train on CUDA device 0, so a
backfill of many jobs either queues behind one GPU or piles them all onto it. With `GS_LOCAL_GPUS`
(e.g. "0,1") a launch takes a free GPU, runs its stage process with `CUDA_VISIBLE_DEVICES` set to it,
and gives it back when the process ends. Dagster runs are separate processes, so a slot is an
advisory file lock (`fcntl.flock`) on `<lock dir>/gpu-<id>.lock`: the operating system releases it when
its holder exits, even when killed, so a crashed run never leaves a GPU marked busy. A launch that
finds every GPU busy waits; the `gpu` pool's limit (`dagster instance concurrency set gpu N`, N = the
number of GPUs) keeps runs from being started only to wait here.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def parse_devices(text: str) -> tuple[str, ...]:
    """ "0,1, 3" -> ("0", "1", "3"); "" -> (). Device ids are CUDA indices or GPU UUIDs (GPU-...)."""
    devices = tuple(part.strip() for part in text.split(",") if part.strip())
    for device in devices:
        if not (device.isdigit() or device.startswith(("GPU-", "MIG-"))):
            raise ValueError(f"GS_LOCAL_GPUS: {device!r} is not a CUDA device index or GPU UUID (e.g. 0,1)")
    if len(set(devices)) != len(devices):
        raise ValueError(f"GS_LOCAL_GPUS lists a device twice: {text!r}")
    return devices


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / "gs-dagster-gpu-slots"


@dataclass
class GpuSlots:
    devices: tuple[str, ...]
    lock_dir: Path = field(default_factory=default_lock_dir)
    poll_s: float = 1.0

    @contextmanager
    def hold(self, on_wait: Callable[[int], None] | None = None) -> Iterator[str]:
        """Hold a free device for the duration of the block; waits (polling) while all are busy.
        `on_wait(seconds_waited)` is called once per poll while waiting, e.g. to log."""
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        while True:
            for device in self.devices:
                handle = self._try(device)
                if handle is not None:
                    try:
                        yield device
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
                        os.close(handle)
                    return
            if on_wait is not None:
                on_wait(int(time.monotonic() - started))
            time.sleep(self.poll_s)

    def _try(self, device: str) -> int | None:
        handle = os.open(self.lock_dir / f"gpu-{device}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return None
        return handle
