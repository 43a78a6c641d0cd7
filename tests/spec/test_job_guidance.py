"""Both job forms mean the same job: a reference document and its newest-AWS-guidance twin parse to one spec,
and the guidance form's problems are named by the paths it wrote (intake of both: tests/dagster)."""

from __future__ import annotations

import pytest

from gs_stages.capabilities import describe, unsupported
from gs_stages.jobspec import JobSpecError, parse_job

S3 = {"bucketName": "bucket", "inputKey": "clip.mp4"}
REFERENCE = {
    "uuid": "twin",
    "s3": S3,
    "imageProcessing": {"filterBlurryImages": False},
    "sfm": {"softwareName": "colmap", "matchingMethod": "exhaustive"},
    "segmentation": {"removeBackground": True, "backgroundRemovalModel": "u2net-human", "maskThreshold": 0.5},
    "training": {"numGaussians": 300000},
    "postProcessing": {"enableSog": False, "enableVideoExport": False},
}
GUIDANCE = {
    "uuid": "twin",
    "useSpotInstance": "false",
    "s3": S3,
    "videoProcessing": {"filterBlurryImages": "false", "videoStopTime": None},
    "reconstruction": {"softwareName": "colmap", "matchingMethod": "exhaustive", "autoMatcher": "false"},
    "segmentation": {
        "backgroundRemoval": {"enable": "true", "model": "u2net_human", "maskThreshold": "0.5"},
        "objectRemoval": {"enable": "false", "action": "erase", "objects": "['human']"},
    },
    "training": {"numGaussians": "300000", "3dIsp": "none", "enableAbsGrad": True},
    "postProcessing": {
        "plyCoords": "rhyu",
        "spzCoords": "RHYU",
        "sogCoords": "lhzu",  # no .sog is written (enableSog false): checked, unused
        "enableSog": "false",
        "enableVideoExport": "false",
        "generateMesh": "true",
    },
}


def test_the_two_forms_of_one_job_are_one_spec() -> None:
    assert parse_job(GUIDANCE).to_json() == parse_job(REFERENCE).to_json()


def test_problems_of_the_newer_form_are_named_as_it_wrote_them() -> None:
    document = {**GUIDANCE, "reconstruction": {"matchingMethod": "fast", "hloc": 1}}
    document["segmentation"] = {"backgroundRemoval": {"enable": "maybe"}}
    with pytest.raises(JobSpecError) as caught:
        parse_job(document)
    paths = [path for path, _ in caught.value.problems]
    assert paths == [
        "reconstruction.matchingMethod",
        "reconstruction.hloc",
        "segmentation.backgroundRemoval.enable",
    ], caught.value.problems


def test_a_refusal_of_this_build_names_the_newer_path() -> None:
    document = {**GUIDANCE, "training": {**GUIDANCE.get("training", {}), "model": "3dgrt"}}
    text = describe(unsupported(parse_job(document)))
    assert "training.model: training.model '3dgrt' is not available" in text


def test_the_optional_exports_are_job_keys_of_both_forms() -> None:
    """enableVideoExport / enableSog (the newer form's keys) are ours too: on unless the job turns them off."""
    post = parse_job({"uuid": "a", "s3": S3}).post_processing
    assert (post.enable_video_export, post.enable_sog) == (True, True)
    post = parse_job({**REFERENCE, "postProcessing": {"enableVideoExport": "FALSE"}}).post_processing
    assert (post.enable_video_export, post.enable_sog) == (False, True)
    with pytest.raises(JobSpecError) as caught:
        parse_job({**REFERENCE, "postProcessing": {"enableVideoExport": "no"}})
    assert [p for p, _ in caught.value.problems] == ["postProcessing.enableVideoExport"]
    assert "expected true or false" in caught.value.problems[0][1]


def test_sog_axes_bind_only_while_the_sog_is_written() -> None:
    """The .sog is converted from the .ply: its axes are the .ply's (rhyu); other axes are refused while the
    .sog is written, and only checked when enableSog is false."""
    on = {**GUIDANCE, "postProcessing": {"sogCoords": "lhzu"}}
    with pytest.raises(JobSpecError) as caught:
        parse_job(on)
    ((path, text),) = caught.value.problems
    assert path == "postProcessing.sogCoords" and "what to try: rhyu" in text and ".sog" in text
    assert parse_job({**GUIDANCE, "postProcessing": {"sogCoords": "rhyu"}}).training.rotate_splat is True
    with pytest.raises(JobSpecError) as caught:
        parse_job({**GUIDANCE, "postProcessing": {"sogCoords": "up", "enableSog": False}})
    assert [p for p, _ in caught.value.problems] == ["postProcessing.sogCoords"]
