"""Bad media through the job flow: what the job record, the notice and `gs-dagster submit` say, and that
nothing is lost (the media stays, a corrected upload is accepted).

- A media file that is empty or holds another kind of file than its name says is refused at intake, so a
  corrected upload under the same uuid runs (S3 on moto: the check reads only the object's first bytes).
- A video that is cut short is refused by `gs-dagster submit` and at intake (no decoder reads it; the other
  videos that cannot work: tests/dagster/test_intake_video_probe.py).
- A video the decoder reads but the frames stage refuses (every frame blank) fails its run: FAILED with the
  reason, a notice that says how to try again, no frames output; re-materializing after the corrected file
  is uploaded under the same name uses it.
- A storage root the stages cannot write fails the run with the path and what to change.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import AwsSandbox, job_json, local_config, materialized, runner_for

from gs_dagster.config import GsConfig
from gs_dagster.messages import RETRY_AFTER_FAILURE
from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit
from tests.stages.media_files import blank_video, panning_video


def _table(config: GsConfig):
    return open_job_table(config.job_table, endpoint_url=config.endpoint_url, region=config.region)


def _outbox(config: GsConfig) -> list[dict]:
    return NotifierResource(outbox_dir=config.outbox_dir).outbox()


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return panning_video(tmp_path_factory.mktemp("video") / "pan.mp4", count=12).read_bytes()


def test_a_video_named_zip_is_refused_at_intake_and_the_renamed_upload_runs(
    aws: AwsSandbox, instance: dg.DagsterInstance, video_bytes: bytes
) -> None:
    runner = runner_for(aws.config(), instance)
    aws.put("media-input/scan.zip", video_bytes)
    aws.put("workflow-input/mislabel.json", json.dumps(job_json("mislabel", aws.bucket, "scan.zip")))

    assert runner.intake_tick().run_requests == []
    record = aws.record("mislabel")
    assert record["status"] == "FAILED" and record["failed_at"] == "intake"
    assert record["error"].startswith(
        f"cannot read scan.zip as a zip archive: it is an MP4/QuickTime video (s3://{aws.bucket}/media-input/scan.zip)"
    )
    assert "What to try: rename it to end in .mp4 or .mov (and the job's s3.inputKey with it" in record["error"]
    (notice,) = aws.notices()
    assert notice["attributes"] == {"uuid": "mislabel", "event": "FAILED"}
    assert (
        "it is an MP4/QuickTime video" in notice["text"]
        and "upload the job file again under the same" in notice["text"]
    )
    assert aws.s3.head_object(Bucket=aws.bucket, Key="media-input/scan.zip")["ContentLength"] == len(video_bytes)

    aws.put("media-input/scan.mp4", video_bytes)  # renamed, as the message says; same uuid
    aws.put("workflow-input/mislabel.json", json.dumps(job_json("mislabel", aws.bucket, "scan.mp4")))
    tick = runner.intake_tick()
    assert [r.partition_key for r in tick.run_requests] == ["mislabel"]
    assert aws.record("mislabel")["status"] == "SUBMITTED"


def test_an_empty_media_file_is_refused_at_intake(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    config = local_config(tmp_path)
    bucket = Path(config.bucket)
    (bucket / "media-input").mkdir(parents=True)
    (bucket / "media-input" / "clip.mp4").write_bytes(b"")
    (bucket / "workflow-input").mkdir()
    (bucket / "workflow-input" / "empty.json").write_text(json.dumps(job_json("empty", "gs-local", "clip.mp4")))

    assert runner_for(config, instance).intake_tick().run_requests == []
    record = _table(config).get("empty")
    assert record.status == "FAILED" and record.failed_at == "intake"
    assert record.error.startswith("the media clip.mp4 is empty (0 bytes)")
    assert "upload the complete file again" in record.error
    assert "is empty (0 bytes)" in _outbox(config)[-1]["text"]


def test_submit_refuses_an_empty_file_before_uploading_anything(tmp_path: Path) -> None:
    config = local_config(tmp_path / "data")
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"")
    with pytest.raises(ValueError, match=r"the media clip\.mp4 is empty \(0 bytes\)\nWhat to try: the upload"):
        submit(media, config=config)
    assert not any(p.is_file() for p in Path(config.bucket).rglob("*"))


def test_a_video_the_frames_stage_refuses_fails_its_run_with_the_reason_and_nothing_is_lost(
    tmp_path: Path, instance: dg.DagsterInstance, video_bytes: bytes
) -> None:
    config = local_config(tmp_path / "data")
    runner = runner_for(config, instance)
    clip = blank_video(tmp_path / "clip.mp4")  # decodes (intake takes it), but shows nothing: the lens cap on
    job = submit(clip, config=config)

    (result,) = runner.process()
    assert not result.success and materialized(instance, result.run_id) == []
    record = _table(config).get(job.uuid)
    assert record.status == "FAILED" and record.failed_at != "intake"
    assert record.error.startswith(
        f"stage frames failed: all 20 frames taken from {job.uuid}-clip.mp4 are blank (one flat colour"
    )
    assert "What to try: open the video or the photos in a viewer" in record.error
    notice = _outbox(config)[-1]
    assert notice["event"] == "FAILED" and "are blank" in notice["text"]
    assert RETRY_AFTER_FAILURE in notice["text"]
    media = Path(job.media_uri)
    assert media.read_bytes() == clip.read_bytes()  # the upload is kept as it came
    assert not (Path(config.storage_root) / "frames" / job.uuid).exists()  # nothing half-written

    media.write_bytes(video_bytes)  # the corrected file, under the same name, then re-materialize
    again = runner.run_job(job.uuid, selection=["frames"])
    assert again.success and materialized(instance, again.run_id) == ["frames"]
    assert _table(config).get(job.uuid).status == "COMPLETE"


def test_submit_and_intake_refuse_a_video_cut_short(
    tmp_path: Path, instance: dg.DagsterInstance, video_bytes: bytes
) -> None:
    config = local_config(tmp_path / "data")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(video_bytes[: len(video_bytes) // 2])  # a copy that stopped half way
    with pytest.raises(ValueError, match=r"clip\.mp4 is not a video any decoder reads: the file is cut short"):
        submit(clip, config=config)
    bucket = Path(config.bucket)
    (bucket / "media-input").mkdir(parents=True)
    (bucket / "media-input" / "clip.mp4").write_bytes(clip.read_bytes())
    (bucket / "workflow-input").mkdir()
    (bucket / "workflow-input" / "cut.json").write_text(json.dumps(job_json("cut", "gs-local", "clip.mp4")))

    assert runner_for(config, instance).intake_tick().run_requests == []
    record = _table(config).get("cut")
    assert record.status == "FAILED" and record.failed_at == "intake"
    assert "the file is cut short" in record.error and "What to try: upload the complete file again" in record.error


def test_a_storage_root_the_stages_cannot_write_is_named(
    tmp_path: Path, instance: dg.DagsterInstance, video_bytes: bytes
) -> None:
    blocker = tmp_path / "disk"
    blocker.write_text("a file where the storage folder should be")
    config = local_config(tmp_path / "data", storage_root=str(blocker / "storage"))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(video_bytes)
    job = submit(clip, config=config)

    (result,) = runner_for(config, instance).process()
    assert not result.success
    record = _table(config).get(job.uuid)
    output = blocker / "storage" / "frames" / job.uuid
    assert record.status == "FAILED"
    assert record.error.startswith(f"stage frames failed: the stage may not write or read {output}: Not a directory")
    assert "point the stage output (GS_STORAGE_ROOT" in record.error
    assert "the stage may not write or read" in _outbox(config)[-1]["text"]
    assert Path(job.media_uri).is_file()
