"""The intake's look into a job's video: can the decoder read it, and does it hold the frames SfM needs
(gs_stages.frames.video_probe)? Refused here, a corrected upload under the same uuid is accepted; left
to the frames stage, the uuid would have run.

A local bucket's file is probed where it lies. From S3 at most `PROBE_HEAD_BYTES + PROBE_TAIL_BYTES` are
fetched whatever the video's size: a small object whole, a large one as its start and its end (MP4's
index, the `moov` box, often sits at the end) written at their offsets into a sparse file of the
object's size, so the decoder finds the index and the first frames where they are.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import gs_stages
from gs_dagster.resources.storage import ObjectInfo, Store
from gs_stages.frames.video_probe import min_frames
from gs_stages.jobspec import VIDEO_EXTENSIONS, JobSpec
from gs_stages.stage import StageError

#: Bytes fetched from a large S3 video's start: its header and first frames (three 4K H.264 frames fit).
PROBE_HEAD_BYTES = 32 * 1024 * 1024
#: Bytes fetched from its end: where an MP4 not written for streaming keeps its index.
PROBE_TAIL_BYTES = 16 * 1024 * 1024
#: Seconds the probe process may take (it decodes at most 3 frames: ~0.1-0.3 s measured, docs/BENCHMARKS.md).
PROBE_TIMEOUT_S = 30.0

log = logging.getLogger("gs_dagster.intake")


def _probe_copy(store: Store, media: ObjectInfo, into: Path) -> tuple[Path, bool]:
    """A local file the decoder can open for the S3 object, and whether it is the whole object."""
    path = into / (re.sub(r"[^A-Za-z0-9._-]", "_", media.key.rsplit("/", 1)[-1]) or "media")
    if media.size <= PROBE_HEAD_BYTES + PROBE_TAIL_BYTES:
        path.write_bytes(store.read_bytes(media.key))
        return path, True
    tail = store.read_tail(media.key, PROBE_TAIL_BYTES)
    with path.open("wb") as handle:
        handle.write(store.read_head(media.key, PROBE_HEAD_BYTES))
        handle.seek(media.size - len(tail))
        handle.write(tail)
    return path, False


def video_problem(store: Store, spec: JobSpec, media: ObjectInfo) -> StageError | None:
    """Why the job's video can never run (no decoder reads it, too few frames), or None (also for a zip)."""
    if not spec.s3.input_key.lower().endswith(VIDEO_EXTENSIONS):
        return None
    name = spec.s3.input_key.rsplit("/", 1)[-1]
    minimum = min_frames(spec.spherical_camera.enable)
    local = store.local_path(media.key)
    if local is not None:
        return _probe(local, name, minimum, complete=True)
    with tempfile.TemporaryDirectory(prefix="gs-intake-probe-") as tmp:
        path, complete = _probe_copy(store, media, Path(tmp))
        return _probe(path, name, minimum, complete=complete)


def _no_answer(name: str, why: str) -> None:
    log.warning(f"intake: the probe of the video {name} gave no answer ({why}); the frames stage judges it")


def _probe(path: Path, name: str, minimum: int, *, complete: bool) -> StageError | None:
    """gs_stages.frames.video_probe in a process of its own, at most PROBE_TIMEOUT_S: a decoder that hangs or
    crashes on the file is no finding about it (the frames stage judges the video), and never takes the
    sensor down with it, so the file cannot stop the intake on every tick."""
    command = [sys.executable, "-m", "gs_stages.frames.video_probe", str(path), f"--name={name}"]
    command += ["--minimum", str(minimum), *([] if complete else ["--partial"])]
    stages_root = str(Path(gs_stages.__file__).resolve().parent.parent)  # the gs_stages this process imports
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [stages_root, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        return _no_answer(name, f"no answer in {PROBE_TIMEOUT_S:.0f} s")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return _no_answer(name, f"exit code {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1]}")
    found = json.loads(lines[-1])
    return StageError(found["message"], hint=found.get("hint")) if found else None


def probe_video(path: Path, name: str, minimum: int) -> StageError | None:
    """Why the whole local video at `path` can never run, or None: `gs-dagster submit`'s check before it uploads,
    in a process of its own as at intake, so a file that hangs or crashes the decoder cannot take the command
    with it (the intake judges such a file again once uploaded)."""
    return _probe(path, name, minimum, complete=True)
