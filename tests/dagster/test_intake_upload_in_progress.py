"""A file still being copied into the local bucket folder (a file manager or `cp` writes it over seconds, while
the job JSON dropped with it is already complete) is neither refused nor accepted for what its first bytes
hold: the intake waits until it has been left alone, then judges it (test_intake_partial_copy.py: a part that
decodes). One record and, for a refusal, one notice, whichever of the copy and the sensor tick comes first.
An S3 object is listed only once complete: it is judged at once."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import job_json
from intake_drops import Drops

from gs_dagster.sensors import intake_rules
from tests.stages.media_files import panning_video

WAIT = {"media_wait_s": 300.0}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return panning_video(tmp_path_factory.mktemp("video") / "pan.mp4", count=12).read_bytes()


def _left_alone() -> datetime:
    """The intake's clock once the files just written have been left alone QUIET_S."""
    return datetime.now(UTC) + timedelta(seconds=intake_rules.QUIET_S + 1)


def _copied_with_its_time(drops: Drops, key: str, days: float = 7) -> None:
    """The local file as `cp -p`, rsync -a or a file manager leave it: its modification time is the source's."""
    then = time.time() - days * 86400
    os.utime(Path(drops.config.bucket) / key, (then, then))


@pytest.mark.parametrize("copy_ends", ["before the first tick", "after the first tick"])
def test_a_video_still_being_copied_in_is_waited_for_not_refused(
    tmp_path: Path, instance: dg.DagsterInstance, video: bytes, copy_ends: str
) -> None:
    drops = Drops.local(tmp_path, instance, **WAIT)
    drops.put("media-input/clip.mp4", video[: len(video) // 3])  # the copy has written its first third
    drops.put("workflow-input/copying.json", json.dumps(job_json("copying", drops.bucket_name, "clip.mp4")))
    if copy_ends == "after the first tick":
        assert drops.tick().run_requests == []
        assert "copying" not in drops.records() and drops.new_notices() == []
    with (Path(drops.config.bucket) / "media-input/clip.mp4").open("ab") as handle:
        handle.write(video[len(video) // 3 :])  # the copy ends
    assert drops.tick().run_requests == [] and "copying" not in drops.records()  # just written: not judged yet
    assert drops.tick_at(_left_alone()) == ["copying"]
    assert drops.records()["copying"].status == "SUBMITTED"
    assert drops.new_notices() == []


def test_a_job_file_still_being_written_is_read_once_it_is_complete(
    tmp_path: Path, instance: dg.DagsterInstance, video: bytes
) -> None:
    drops = Drops.local(tmp_path, instance, **WAIT)
    drops.put("media-input/clip.mp4", video)
    text = json.dumps(job_json("saving", drops.bucket_name, "clip.mp4"))
    drops.put("workflow-input/saving.json", text[: len(text) // 2])  # an editor's save, half written
    assert drops.tick().run_requests == []
    assert "saving" not in drops.records() and drops.new_notices() == []
    drops.put("workflow-input/saving.json", text)
    assert drops.tick_at(_left_alone()) == ["saving"]
    assert drops.new_notices() == []


@pytest.mark.parametrize("quiet", ["the video", "the job file"])
def test_a_file_left_alone_cut_short_is_refused_once(
    tmp_path: Path, instance: dg.DagsterInstance, video: bytes, monkeypatch: pytest.MonkeyPatch, quiet: str
) -> None:
    # Left alone long enough, or its job file waited GS_MEDIA_WAIT_S: the refusal is true, and says which.
    monkeypatch.setattr(intake_rules, "QUIET_S", 1.0 if quiet == "the video" else 60.0)
    drops = Drops.local(tmp_path, instance, media_wait_s=300.0 if quiet == "the video" else 1.0)
    drops.put("media-input/clip.mp4", video[: len(video) // 3])
    drops.put("workflow-input/cut.json", json.dumps(job_json("cut", drops.bucket_name, "clip.mp4")))
    time.sleep(1.1)
    if quiet == "the video":
        drops.refused_once("cut", ["clip.mp4 is not a video any decoder reads: the file is cut short"])
    else:  # written 1.1 s before, when its wait ended: refused as such, not judged on a part (partial_copy tests)
        drops.refused_once(
            "cut", ["clip.mp4 was still being written when the wait for it ended (1 s after the job file arrived"]
        )


def test_a_job_file_copied_in_with_its_old_time_waits_for_its_video_being_copied(
    tmp_path: Path, instance: dg.DagsterInstance, video: bytes
) -> None:
    # A file manager copies a folder: the job file lands first keeping last week's time, the video follows.
    drops = Drops.local(tmp_path, instance, **WAIT)
    drops.put("workflow-input/week.json", json.dumps(job_json("week", drops.bucket_name, "clip.mp4")))
    _copied_with_its_time(drops, "workflow-input/week.json")
    assert drops.tick().run_requests == [] and "week" not in drops.records()  # its media is not there yet
    drops.put("media-input/clip.mp4", video[: len(video) // 3])
    assert drops.tick().run_requests == [] and "week" not in drops.records()  # being copied
    with (Path(drops.config.bucket) / "media-input/clip.mp4").open("ab") as handle:
        handle.write(video[len(video) // 3 :])
    _copied_with_its_time(drops, "media-input/clip.mp4")
    assert drops.tick_at(_left_alone()) == ["week"]
    assert drops.new_notices() == []


def test_an_s3_object_is_complete_when_listed_and_judged_at_once(
    aws, instance: dg.DagsterInstance, video: bytes
) -> None:
    drops = Drops.moto(aws, instance, **WAIT)
    drops.put("media-input/clip.mp4", video[: len(video) // 3])
    drops.put("workflow-input/s3cut.json", json.dumps(job_json("s3cut", aws.bucket, "clip.mp4")))
    drops.refused_once("s3cut", ["clip.mp4 is not a video any decoder reads: the file is cut short"])
