"""GS_LOCAL_GPUS: local launches take one free GPU each, wait when all are busy, and a crashed run
never leaves its GPU marked busy."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from gs_dagster.config import GsConfig
from gs_dagster.resources.gpu_slots import GpuSlots, parse_devices
from gs_dagster.resources.launcher import StageLocations
from gs_dagster.resources.local_launcher import LocalPipesLauncher
from gs_dagster.resources.pipes_stream import StreamingPipesSubprocessClient
from gs_stages.jobspec import parse_job

ROOT = Path(__file__).resolve().parents[2]


def test_devices_are_parsed_and_checked() -> None:
    assert parse_devices(" 0, 1,GPU-5d2c ") == ("0", "1", "GPU-5d2c")
    assert parse_devices("") == ()
    with pytest.raises(ValueError, match="'x' is not a CUDA device index"):
        parse_devices("0,x")
    with pytest.raises(ValueError, match="lists a device twice"):
        parse_devices("1,1")
    with pytest.raises(ValueError, match="GS_LOCAL_GPUS"):  # refused when the code location loads
        GsConfig.from_env({"GS_LOCAL_GPUS": "0,gpu1"})
    assert GsConfig.from_env({"GS_LOCAL_GPUS": "2, 3"}).local_gpus == "2,3"


def _take_one(slots: GpuSlots, got: list[str], waits: list[int] | None = None) -> threading.Thread:
    """A thread that waits for a slot, records which one, and gives it back."""

    def take() -> None:
        with slots.hold(on_wait=waits.append if waits is not None else None) as device:
            got.append(device)

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def test_each_holder_gets_its_own_gpu_and_the_next_waits(tmp_path: Path) -> None:
    slots = GpuSlots(("0", "1"), tmp_path, poll_s=0.05)
    first, second = slots.hold(), slots.hold()
    devices = {first.__enter__(), second.__enter__()}
    assert devices == {"0", "1"}
    got: list[str] = []
    waits: list[int] = []
    waiter = _take_one(slots, got, waits)
    time.sleep(0.3)
    assert got == [] and len(waits) >= 3  # both busy: it polls
    first.__exit__(None, None, None)  # the first run ends
    waiter.join(timeout=5)
    second.__exit__(None, None, None)
    assert got == ["0"]  # and its GPU goes to the one that waited


def test_a_killed_run_releases_its_gpu(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from gs_dagster.resources.gpu_slots import GpuSlots\n"
            f"with GpuSlots(('0',), Path({str(tmp_path)!r})).hold():\n"
            "    print('holding', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    got: list[str] = []
    waiter = _take_one(GpuSlots(("0",), tmp_path, poll_s=0.05), got)
    time.sleep(0.3)
    assert got == []  # held by the other process
    holder.kill()  # SIGKILL: no cleanup code runs; the kernel drops the lock with the process
    holder.wait()
    waiter.join(timeout=5)
    assert got == ["0"]


def test_the_stage_process_sees_only_its_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict] = []

    def stream(self, **kwargs):  # the Pipes subprocess call, recorded instead of run
        seen.append(dict(kwargs["env"]))
        return iter(())

    monkeypatch.setattr(StreamingPipesSubprocessClient, "stream", stream)
    spec = parse_job({"uuid": "gpu-slot-job", "s3": {"bucketName": "gs-local", "inputKey": "media.zip"}})
    locations = StageLocations(root=str(tmp_path / "storage"))
    context = dg.build_asset_context()
    for gpus, expected in (("", {}), ("3", {"CUDA_VISIBLE_DEVICES": "3"})):
        launcher = LocalPipesLauncher(gpus=gpus, gpu_lock_dir=str(tmp_path / "locks"))
        list(launcher.launch(context, ["masks"], spec, locations))
        assert seen[-1] == expected
    busy = GpuSlots(("3",), tmp_path / "locks")
    with busy.hold():  # GPU 3 taken: a launch given 3 and 4 runs on 4
        list(
            LocalPipesLauncher(gpus="3,4", gpu_lock_dir=str(tmp_path / "locks")).launch(
                context, ["masks"], spec, locations
            )
        )
    assert seen[-1] == {"CUDA_VISIBLE_DEVICES": "4"}
