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
    "postProcessing": {"plyCoords": "rhyu", "spzCoords": "RHYU", "enableSog": "false", "generateMesh": "true"},
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
