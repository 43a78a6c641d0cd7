"""The intake's video probe refuses no video people really upload: the shared data's real clip (apple.mp4, also
under an upper-case name) and what phones and editors make of it (an iPhone's 10-bit HEVC .mov shot in
portrait, a variable frame rate, a black first second, a .mov trimmed without re-encoding, a 360° clip of
two panoramas) each run. A video in a codec the frames stage's decoder cannot decode (AV1) is refused naming
the codec, not called unreadable, since it plays in any player; `gs-dagster submit` refuses it before uploading,
with the decoder in a process of its own as at intake. Variants are made with the ffmpeg binary
that imageio-ffmpeg (a gs-stages dependency) ships."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import imageio_ffmpeg
import pytest
from gs_testkit import job_json, local_config
from intake_drops import Drops

from gs_dagster.sensors import video_intake
from gs_dagster.submit import submit
from tests.shared_data import DATA

APPLE = DATA / "apple_video" / "apple.mp4"
EQUIRECT = DATA / "equirect_office" / "equirect_crop.jpg"
_SMALL = "scale=320:-2,format=yuv420p"
#: name -> (ffmpeg's arguments before the output, APPLE and EQUIRECT standing for those files; job options).
#: None: the real file itself.
VARIANTS: dict[str, tuple[str | None, dict]] = {
    "apple.mp4": (None, {}),
    "APPLE.MP4": (None, {}),
    "iphone_portrait.mov": (
        "-display_rotation 90 -i APPLE -vf scale=320:-2,format=yuv420p10le -c:v libx265 -tag:v hvc1 "
        "-preset ultrafast -x265-params log-level=error",
        {},
    ),
    "vfr.mp4": (
        f"-i APPLE -vf {_SMALL},setpts='PTS+if(gt(N,5),N*0.004/TB,0)' -fps_mode vfr -c:v libx264 -preset ultrafast",
        {},
    ),
    "black_start.mp4": (
        "-f lavfi -i color=black:s=320x178:r=10:d=1 -i APPLE -filter_complex "
        f"[1]{_SMALL},setsar=1[v];[0]format=yuv420p,setsar=1[b];[b][v]concat=n=2:v=1 -c:v libx264",
        {},
    ),
    "trimmed.mov": ("-ss 1.35 -i APPLE -c copy", {}),
    "panoramas.mp4": (
        "-loop 1 -i EQUIRECT -vf scale=640:320,scroll=h=0.01,format=yuv420p -frames:v 2 -c:v libx264 -preset ultrafast",
        {"sphericalCamera.enable": True},
    ),
}
AV1 = f"-i APPLE -vf {_SMALL} -frames:v 5 -c:v libaom-av1 -cpu-used 8"


def _make(path: Path, arguments: str | None) -> bytes:
    if arguments is None:
        shutil.copyfile(APPLE, path)
    else:
        files = {"APPLE": str(APPLE), "EQUIRECT": str(EQUIRECT)}
        ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-threads", "1"]
        command = [*ffmpeg, *(files.get(word, word) for word in arguments.split()), "-an", str(path)]
        subprocess.run(command, check=True, timeout=120)
    return path.read_bytes()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("phone")
    files = {name: _make(tmp / name, arguments) for name, (arguments, _) in VARIANTS.items()}
    return {**files, "av1.mp4": _make(tmp / "av1.mp4", AV1)}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_videos_people_upload_are_not_refused(
    tmp_path: Path, instance: dg.DagsterInstance, made: dict[str, bytes], name: str
) -> None:
    drops = Drops.local(tmp_path, instance)
    drops.put(f"media-input/{name}", made[name])
    drops.put("workflow-input/real.json", json.dumps(job_json("real", "gs-local", name, **VARIANTS[name][1])))
    assert [r.partition_key for r in drops.tick().run_requests] == ["real"], drops.records()["real"].error
    assert drops.records()["real"].status == "SUBMITTED" and drops.new_notices() == []


def test_a_codec_the_decoder_lacks_is_named_in_the_refusal(
    tmp_path: Path, instance: dg.DagsterInstance, made: dict[str, bytes]
) -> None:
    drops = Drops.local(tmp_path, instance)
    drops.put("media-input/av1.mp4", made["av1.mp4"])
    drops.put("workflow-input/av1job.json", json.dumps(job_json("av1job", "gs-local", "av1.mp4")))
    record = drops.refused_once("av1job", ["av1.mp4 holds AV1 video", "export it again as H.264"])
    assert "not a video any decoder reads" not in record.error


def test_submit_judges_the_video_in_a_process_of_its_own(
    tmp_path: Path, made: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = local_config(tmp_path / "data")
    media = tmp_path / "av1.mp4"
    media.write_bytes(made["av1.mp4"])
    with pytest.raises(ValueError, match=r"av1\.mp4 holds AV1 video"):
        submit(media, config=config)
    assert not any(p.is_file() for p in Path(config.bucket).rglob("*"))  # nothing uploaded

    # A decoder that hangs on the file: its process is stopped, the command goes on and the intake judges it.
    monkeypatch.setattr(video_intake, "PROBE_TIMEOUT_S", 0.001)
    submission = submit(media, config=config)
    assert Path(submission.media_uri).is_file() and Path(submission.job_uri).is_file()
