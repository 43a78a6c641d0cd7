"""A zip of photos that cannot work (empty, one photo, no photos at all) is refused at intake from its member
list, in the local folder and in S3 on the moto server: one FAILED record and one notice saying what to
upload, no run; the corrected zip uploaded under the same uuid then runs. `gs-dagster submit` refuses it
before uploading anything."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import job_json, local_config
from intake_drops import Drops

from gs_dagster.submit import submit


def _zip(*names: str, padding: int = 0) -> bytes:
    """A zip of the named members (a few bytes each; the listing is what intake reads), optionally with a
    large first member so the member list sits far from the start."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        if padding:
            archive.writestr("notes/padding.bin", bytes(padding))
        for name in names:
            archive.writestr(name, b"\xff\xd8\xff" + bytes(16))
    return buffer.getvalue()


@pytest.fixture(params=["local", "moto"])
def drops(request: pytest.FixtureRequest, tmp_path: Path, instance: dg.DagsterInstance) -> Drops:
    if request.param == "local":
        return Drops.local(tmp_path, instance)
    return Drops.moto(request.getfixturevalue("aws"), instance)


CASES = {
    "an empty zip": (_zip(), ["the zip photos.zip holds no photos", "it holds no files", "zip the folder"]),
    "one photo": (_zip("IMG_0001.jpg"), ["holds 1 photo(s); SfM needs at least 3", "zip 20 or more photos"]),
    "two photos after 3 MB of other data": (
        _zip("a/IMG_1.HEIC", "a/IMG_2.jpg", "__MACOSX/a/._IMG_3.jpg", padding=3 * 1024 * 1024),
        ["holds 2 photo(s); SfM needs at least 3"],
    ),
    "raw files only": (_zip("DSC_1.NEF", "DSC_2.NEF", "DSC_3.NEF"), ["holds no photos", "convert the RAW files"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_zip_that_cannot_work_is_refused_at_intake_and_the_corrected_zip_runs(drops: Drops, case: str) -> None:
    body, words = CASES[case]
    drops.put("media-input/photos.zip", body)
    drops.put("workflow-input/zipjob.json", json.dumps(job_json("zipjob", drops.bucket_name, "photos.zip")))

    drops.refused_once("zipjob", words)

    drops.put("media-input/photos.zip", _zip("IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg", padding=3 * 1024 * 1024))
    drops.put("workflow-input/zipjob.json", json.dumps(job_json("zipjob", drops.bucket_name, "photos.zip")) + "\n")
    assert [r.partition_key for r in drops.tick().run_requests] == ["zipjob"]
    assert drops.records()["zipjob"].status == "SUBMITTED"


def test_a_zip_whose_end_is_not_a_zip_is_left_to_the_frames_stage(drops: Drops) -> None:
    drops.put("media-input/photos.zip", b"PK\x03\x04" + bytes(4096))  # a zip's start, its end cut off
    drops.put("workflow-input/cut.json", json.dumps(job_json("cut", drops.bucket_name, "photos.zip")))
    assert [r.partition_key for r in drops.tick().run_requests] == ["cut"]


def test_submit_refuses_a_zip_of_one_photo_before_uploading_anything(tmp_path: Path) -> None:
    config = local_config(tmp_path / "data")
    media = tmp_path / "photos.zip"
    media.write_bytes(_zip("IMG_0001.jpg"))
    with pytest.raises(ValueError, match=r"the zip photos\.zip holds 1 photo\(s\); SfM needs at least 3"):
        submit(media, config=config)
    assert not any(p.is_file() for p in Path(config.bucket).rglob("*"))
