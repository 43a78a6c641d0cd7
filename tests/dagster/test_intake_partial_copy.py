"""Media still being copied into the local bucket folder is not judged on its part: a faststart MP4 (its index,
the `moov` box, first) decodes its first frames long before the copy ends, so a probe of the part passes and the
job would run on a cut video while the complete file is never used. The job waits until the media has been left
alone QUIET_S (intake_rules), then is judged, and runs, on the whole file. The same for a zip of photos, whose
part has no central directory. Time passing is the intake's clock (`now`), not a sleep."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import dagster as dg
import imageio_ffmpeg
import pytest
from gs_testkit import job_json
from intake_drops import Drops

from gs_dagster.sensors.intake_rules import QUIET_S
from tests.stages.media_files import panning_video

WAIT = {"media_wait_s": 300.0}
FRAMES = 24


def _decoded(data: bytes, into: Path) -> int:
    into.write_bytes(data)
    capture, count = cv2.VideoCapture(str(into)), 0
    while capture.grab():
        count += 1
    capture.release()
    return count


@pytest.fixture(scope="module")
def faststart(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A faststart MP4 of FRAMES frames (ffmpeg's `-movflags +faststart`, as phones' and editors' exports)."""
    folder = tmp_path_factory.mktemp("faststart")
    plain = panning_video(folder / "plain.mp4", count=FRAMES)
    out = folder / "fast.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(plain), "-c", "copy", "-movflags", "+faststart", str(out)], check=True
    )
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "the index is first"
    return data


def _frame_count(instance: dg.DagsterInstance, run_id: str) -> int:
    (entry,) = [
        r.event_log_entry
        for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    ]
    return int(entry.dagster_event.materialization.metadata["frame_count"].value)


def _copy_in_two_steps(drops: Drops, key: str, data: bytes, uuid: str, media: str, cut: int) -> datetime:
    """The media's first `cut` bytes land with the job file, a tick passes, then the rest: the copy's end."""
    drops.put(key, data[:cut])
    drops.put(f"workflow-input/{uuid}.json", json.dumps(job_json(uuid, drops.bucket_name, media)))
    assert drops.tick_at(datetime.now(UTC)) == []  # the copy is going on: nothing judged
    assert uuid not in drops.records() and drops.new_notices() == []
    with (Path(drops.config.bucket) / key).open("ab") as handle:
        handle.write(data[cut:])
    ended = datetime.now(UTC)
    assert drops.tick_at(ended) == []  # just written: not yet left alone
    assert uuid not in drops.records() and drops.new_notices() == []
    return ended


def test_a_faststart_video_copied_in_runs_on_the_whole_file(
    tmp_path: Path, instance: dg.DagsterInstance, faststart: bytes
) -> None:
    cut = len(faststart) * 3 // 5
    assert 3 <= _decoded(faststart[:cut], tmp_path / "part.mp4") < FRAMES  # the part passes the intake's probe
    drops = Drops.local(tmp_path, instance, **WAIT)
    ended = _copy_in_two_steps(drops, "media-input/fast.mp4", faststart, "fast", "fast.mp4", cut)
    assert drops.tick_at(ended + timedelta(seconds=QUIET_S + 1)) == ["fast"]  # left alone: judged, whole
    assert drops.records()["fast"].status == "SUBMITTED" and drops.new_notices() == []
    result = drops.runner.run_job("fast", selection=["frames"])
    assert result.success and _frame_count(instance, result.run_id) == FRAMES


def test_a_photo_zip_copied_in_runs_on_every_photo(
    tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path
) -> None:
    data = sample_zip.read_bytes()
    drops = Drops.local(tmp_path, instance, **WAIT)
    ended = _copy_in_two_steps(drops, "media-input/orbit.zip", data, "orbit", "orbit.zip", len(data) // 2)
    assert drops.tick_at(ended + timedelta(seconds=QUIET_S + 1)) == ["orbit"]
    assert drops.records()["orbit"].status == "SUBMITTED" and drops.new_notices() == []
    result = drops.runner.run_job("orbit", selection=["frames"])
    assert result.success and _frame_count(instance, result.run_id) == 16


@pytest.mark.parametrize("order", ["the job file first", "the media first"])
def test_media_still_written_when_its_wait_ends_is_refused_once_not_judged_on_its_part(
    tmp_path: Path, instance: dg.DagsterInstance, faststart: bytes, order: str
) -> None:
    """The wait for a copy ends GS_MEDIA_WAIT_S after the job file (here shorter than QUIET_S, as for a copy that
    outlasts the wait): one FAILED record and one notice saying so, never none and never a run on the part; the
    job file dropped again once the copy has ended runs on the whole file."""
    drops = Drops.local(tmp_path, instance, media_wait_s=QUIET_S - 5)
    cut = len(faststart) * 3 // 5
    job = json.dumps(job_json("slow", drops.bucket_name, "slow.mp4"))
    steps = [
        lambda: drops.put("media-input/slow.mp4", faststart[:cut]),
        lambda: drops.put("workflow-input/slow.json", job),
    ]
    for step in steps if order == "the media first" else steps[::-1]:
        step()
    start = datetime.now(UTC)
    assert drops.tick_at(start + timedelta(seconds=QUIET_S - 6)) == [] and "slow" not in drops.records()
    assert drops.tick_at(start + timedelta(seconds=QUIET_S - 4)) == []  # the wait ends, the copy still going
    record = drops.records()["slow"]
    assert record.status == "FAILED" and record.failed_at == "intake" and not record.run_id
    assert (
        "slow.mp4 was still being written when the wait for it ended (10 s after the job file arrived" in record.error
    )
    (notice,) = drops.new_notices()
    assert notice["event"] == "FAILED" and "still being written" in notice["text"]
    assert drops.tick_at(start + timedelta(seconds=QUIET_S - 3)) == [] and drops.new_notices() == []  # said once

    with (Path(drops.config.bucket) / "media-input/slow.mp4").open("ab") as handle:
        handle.write(faststart[cut:])  # the copy ends
    drops.put("workflow-input/slow.json", job)  # and the job file is dropped again
    assert drops.tick_at(datetime.now(UTC) + timedelta(seconds=QUIET_S + 1)) == ["slow"]
    assert drops.records()["slow"].status == "SUBMITTED" and drops.new_notices() == []
