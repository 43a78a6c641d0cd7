"""A video that cannot work (no decoder reads it, or it holds fewer frames than SfM can pose) is refused at
intake, in the local folder and in S3 on the moto server: one FAILED record and one notice saying what to
upload, no run; the corrected video under the same uuid then runs. What only the job's options make short
is not refused, nor a large S3 video whose fetched start and end the decoder cannot make sense of.
`gs-dagster submit` refuses the same files before uploading anything."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from gs_testkit import job_json, local_config
from intake_drops import Drops, cli_reads

from gs_dagster import cli
from gs_dagster.sensors import video_intake
from gs_dagster.submit import submit
from tests.stages.media_files import panning_video, texture, write_video


@pytest.fixture(params=["local", "moto"])
def drops(request: pytest.FixtureRequest, tmp_path: Path, instance: dg.DagsterInstance) -> Drops:
    if request.param == "local":
        return Drops.local(tmp_path, instance)
    return Drops.moto(request.getfixturevalue("aws"), instance)


def _frames_video(tmp: Path, count: int, size: tuple[int, int] = (120, 160)) -> bytes:
    scene = texture()
    frames = [np.ascontiguousarray(scene[i : i + size[0], i : i + size[1]]) for i in range(count)]
    return write_video(tmp / f"v{count}.mp4", frames).read_bytes()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("videos")
    return {
        "good": panning_video(tmp / "pan.mp4", count=12).read_bytes(),
        "1 frame": _frames_video(tmp, 1),
        "2 frames": _frames_video(tmp, 2),
        "3 frames": _frames_video(tmp, 3),
        "2 panoramas": _frames_video(tmp, 2, size=(80, 160)),
        "1 panorama": _frames_video(tmp, 1, size=(80, 160)),
    }


CASES = {
    "a text file": (
        "clip.mp4",
        b"https://photos.example.com/share/clip\n",
        [
            "clip.mp4 is not a video any decoder reads: it holds text (it starts 'https://photos.example.com/share/clip')"
        ],
    ),
    "random bytes": (
        "clip.mov",
        np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes(),
        ["clip.mov is not a video any decoder reads: FFmpeg finds no video stream in it", "export it again"],
    ),
    "1 frame": ("clip.mp4", "1 frame", ["the video clip.mp4 holds 1 decodable frame(s); SfM needs at least 3"]),
    "2 frames": ("clip.mp4", "2 frames", ["holds 2 decodable frame(s); SfM needs at least 3", "a longer video"]),
    "cut short": ("clip.mp4", "good/2", ["clip.mp4 is not a video any decoder reads: the file is cut short"]),
}


def _body(videos: dict[str, bytes], body: bytes | str) -> bytes:
    if isinstance(body, bytes):
        return body
    name, _, part = body.partition("/")
    return videos[name][: len(videos[name]) // int(part)] if part else videos[name]


@pytest.mark.parametrize("case", list(CASES))
def test_a_video_that_cannot_work_is_refused_at_intake_and_the_corrected_video_runs(
    drops: Drops, videos: dict[str, bytes], case: str
) -> None:
    name, body, words = CASES[case]
    drops.put(f"media-input/{name}", _body(videos, body))
    drops.put("workflow-input/vidjob.json", json.dumps(job_json("vidjob", drops.bucket_name, name)))

    drops.refused_once("vidjob", words)

    drops.put(f"media-input/{name}", videos["good"])  # the corrected video, same name and uuid
    drops.put("workflow-input/vidjob.json", json.dumps(job_json("vidjob", drops.bucket_name, name)) + "\n")
    assert [r.partition_key for r in drops.tick().run_requests] == ["vidjob"]
    assert drops.records()["vidjob"].status == "SUBMITTED"


@pytest.mark.parametrize(
    ("video", "options", "runs"),
    [
        ("3 frames", {}, True),
        ("good", {"videoProcessing.maxNumImages": 2}, True),  # the option, not the file, makes it short
        ("2 panoramas", {"sphericalCamera.enable": True}, True),
        ("1 panorama", {"sphericalCamera.enable": True}, False),
    ],
)
def test_only_what_the_file_itself_makes_impossible_is_refused(
    drops: Drops, videos: dict[str, bytes], video: str, options: dict, runs: bool
) -> None:
    drops.put("media-input/clip.mp4", videos[video])
    drops.put("workflow-input/short.json", json.dumps(job_json("short", drops.bucket_name, "clip.mp4", **options)))
    requested = [r.partition_key for r in drops.tick().run_requests]
    record = drops.records()["short"]
    if runs:
        assert requested == ["short"] and record.status == "SUBMITTED", record.error
    else:
        assert requested == [] and record.failed_at == "intake"
        assert "holds 1 decodable frame(s); SfM needs at least 2 frames" in record.error


@pytest.mark.parametrize(
    ("body", "refused"),
    [("good", False), ("1 frame", False), ("noise", "FFmpeg finds no"), ("cut", "the file is cut short")],
)
def test_a_large_s3_video_is_probed_from_its_start_and_end_and_only_a_sure_finding_refuses(
    aws, instance: dg.DagsterInstance, videos: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, body, refused
) -> None:
    # Caps far below the files' sizes: the intake fetches only 2 KB of each end, as it does of a video over 48 MB.
    monkeypatch.setattr(video_intake, "PROBE_HEAD_BYTES", 2048)
    monkeypatch.setattr(video_intake, "PROBE_TAIL_BYTES", 2048)
    data = {"noise": os.urandom(300_000), "cut": videos["good"][: len(videos["good"]) * 3 // 4]}.get(body) or videos[
        body
    ]
    assert len(data) > 4096
    drops = Drops.moto(aws, instance)
    drops.put("media-input/big.mp4", data)
    drops.put("workflow-input/big.json", json.dumps(job_json("big", aws.bucket, "big.mp4")))
    requested = [r.partition_key for r in drops.tick().run_requests]
    record = drops.records()["big"]
    assert (record.failed_at == "intake") == bool(refused) and (requested == []) == bool(refused), record.error
    if refused:
        assert f"big.mp4 is not a video any decoder reads: {refused}" in record.error, record.error


def test_status_shows_the_refusal_and_submit_refuses_before_uploading(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    videos: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_reads(tmp_path / "data", instance, monkeypatch)
    drops = Drops.local(tmp_path / "data", instance)
    drops.put("media-input/one.mp4", videos["1 frame"])
    drops.put("workflow-input/onejob.json", json.dumps(job_json("onejob", "gs-local", "one.mp4")))
    assert drops.tick().run_requests == []
    assert cli.main(["status", "onejob"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" in out and "the video one.mp4 holds 1 decodable frame(s)" in out, out

    config = local_config(tmp_path / "fresh")
    for case in ("a text file", "2 frames"):
        name, body, words = CASES[case]
        media = tmp_path / name
        media.write_bytes(_body(videos, body))
        with pytest.raises(ValueError, match=re.escape(words[0])):
            submit(media, config=config)
    assert not any(p.is_file() for p in Path(config.bucket).rglob("*"))


def test_a_video_the_probe_gives_no_answer_on_is_left_to_the_frames_stage(
    drops: Drops, videos: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A decoder that hangs on a crafted file: the probe's process is stopped, the sensor goes on.
    monkeypatch.setattr(video_intake, "PROBE_TIMEOUT_S", 0.001)
    drops.put("media-input/-hangs.mp4", videos["1 frame"])  # the name may not pass for an option either
    drops.put("workflow-input/hangs.json", json.dumps(job_json("hangs", drops.bucket_name, "-hangs.mp4")))
    assert [r.partition_key for r in drops.tick().run_requests] == ["hangs"]
    assert drops.records()["hangs"].status == "SUBMITTED"
    assert "the probe of the video -hangs.mp4 gave no answer (no answer in 0 s)" in caplog.text
