"""The newest AWS guidance's job JSON (commit 10eb6d1) at intake, next to the reference's: files dropped in the
bucket (the local folder and S3 on moto), the intake sensor ticking, the job table record and the notices.

A valid document of either form starts one run whose recorded spec holds what the newer keys map onto; a
newer key at a value this build does not run, or with a value of the wrong kind, ends the job in one FAILED
record and one notice that names the key as the document wrote it and what to write instead."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from gs_testkit import job_json
from intake_drops import Drops

from tests.stages.media_files import panning_video

MEDIA = "clip.mp4"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A video the intake's decoder reads (it decodes the first frames of a job's video)."""
    return panning_video(tmp_path_factory.mktemp("video") / MEDIA, count=4).read_bytes()


def guidance_job(uuid: str, bucket: str) -> dict[str, Any]:
    """The guidance's documented example (UNDERSTANDING_CONFIGURATION.md), with every option we run kept and
    the ones we do not run at their "off" value, as its UI writes them (strings for numbers and booleans)."""
    return {
        "uuid": uuid,
        "instanceType": "ml.g5.8xlarge",
        "useSpotInstance": "false",
        "logVerbosity": "info",
        "s3": {
            "bucketName": bucket,
            "inputPrefix": "media-input",
            "inputKey": MEDIA,
            "outputPrefix": "workflow-output",
        },
        "imageProcessing": {"autoScaleDataset": False, "autoScaleDatasetMode": "RESIZE", "autoGroupImages": False},
        "videoProcessing": {
            "maxNumImages": "80",
            "videoStartTime": "1.5",
            "videoStopTime": None,
            "filterBlurryImages": "false",
        },
        "reconstruction": {
            "enable": True,
            "softwareName": "colmap",
            "posePriors": {"usePosePriorColmapModelFiles": False},
            "enableEnhancedFeatureExtraction": False,
            "matchingMethod": "exhaustive",
            "enableFlHeuristic": False,
            "flHeuristicValue": "1.1",
            "autoMatcher": False,
            "autoMapper": False,
        },
        "training": {
            "enable": True,
            "maxSteps": "20",
            "model": "splatfacto-mcmc",
            "3dIsp": "none",
            "numGaussians": "250000",
        },
        "postProcessing": {
            "cropOutputBounds": True,
            "cropMode": "rigid_object",
            "cleanSplat": "false",
            "enableSpz": True,
            "enableSog": False,
            "enableVideoExport": "false",
            "generateMesh": True,
            "plyCoords": "rhyu",
            "spzCoords": "rhyu",
            "sogCoords": "rhzu",
        },
        "sphericalCamera": {"enable": False, "cubeFacesToRemove": "['']"},
        "segmentation": {
            "backgroundRemoval": {"enable": "true", "model": "u2net", "maskThreshold": "0.4"},
            "objectRemoval": {"enable": False, "action": "erase", "objects": "['human']"},
        },
    }


@pytest.fixture(params=["local", "moto"])
def drops(request: pytest.FixtureRequest, tmp_path: Path, instance: dg.DagsterInstance) -> Drops:
    if request.param == "local":
        return Drops.local(tmp_path, instance)
    return Drops.moto(request.getfixturevalue("aws"), instance)


def test_both_forms_start_a_run_and_the_newer_keys_reach_the_recorded_spec(drops: Drops, video: bytes) -> None:
    drops.put(f"media-input/{MEDIA}", video)
    drops.put("workflow-input/newer.json", json.dumps(guidance_job("newer", drops.bucket_name)))
    drops.put("workflow-input/older.json", json.dumps(job_json("older", drops.bucket_name, MEDIA)))

    tick = drops.tick()

    assert sorted(r.partition_key for r in tick.run_requests) == ["newer", "older"]
    records = drops.records()
    assert all(records[u].status != "FAILED" for u in ("newer", "older")), records
    spec = json.loads(records["newer"].spec)
    assert spec["sfm"]["softwareName"] == "colmap" and spec["sfm"]["matchingMethod"] == "exhaustive"
    assert spec["training"]["model"] == "splatfacto-mcmc" and spec["training"]["numGaussians"] == 250000
    assert spec["videoProcessing"] == {"maxNumImages": 80, "videoStartTime": 1.5, "videoStopTime": None}
    assert spec["imageProcessing"] == {"filterBlurryImages": False}
    assert spec["postProcessing"] == {
        "cropOutputBounds": True,
        "cropMode": "rigid_object",
        "cleanSplat": False,
        "enableVideoExport": False,
        "enableSog": False,
    }
    seg = spec["segmentation"]
    assert (seg["removeBackground"], seg["backgroundRemovalModel"], seg["maskThreshold"]) == (True, "u2net", 0.4)
    assert seg["removeHumanSubject"] is False and spec["training"]["rotateSplat"] is True
    assert spec["useSpotInstance"] is False
    older = json.loads(records["older"].spec)
    assert older["postProcessing"] == {  # crop and clean on unless refused (docs/JOB_JSON.md says why)
        "cropOutputBounds": True,
        "cropMode": "environment",
        "cleanSplat": True,
        "enableVideoExport": True,
        "enableSog": True,
    }
    assert older["training"]["numGaussians"] == 1_000_000


#: A change to the newer document -> the words its FAILED record and notice must hold (the last in the notice).
BAD: dict[str, tuple[dict[str, Any], list[str]]] = {
    "spot": ({"useSpotInstance": "sometimes"}, ["useSpotInstance", "expected true or false"]),
    "sog": ({"postProcessing.enableSog": "yes"}, ["postProcessing.enableSog", "expected true or false"]),
    "video": ({"postProcessing.enableVideoExport": "1"}, ["postProcessing.enableVideoExport", "expected true or"]),
    "sog-axes": ({"postProcessing.enableSog": "true"}, ["postProcessing.sogCoords", ".sog in right-handed", "rhyu"]),
    "coords": ({"postProcessing.spzCoords": "lhzu"}, ["postProcessing.spzCoords", "right-handed y-up", "rhyu"]),
    "erase": (
        {"segmentation.objectRemoval.enable": True},
        ["segmentation.objectRemoval.action", '"erase"', 'what to try: "remove"'],
    ),
    "budget": ({"training.numGaussians": "12"}, ["training.numGaussians", "greater than or equal to 1000"]),
    "stop": ({"videoProcessing.videoStopTime": 1}, ["videoProcessing", "must be after videoStartTime (1.5 s)"]),
    "matcher": ({"reconstruction.matchingMethod": "fast"}, ["reconstruction.matchingMethod", "'exhaustive'"]),
    "crop": ({"postProcessing.cropMode": "box"}, ["postProcessing.cropMode", "'environment' or 'rigid_object'"]),
    "model": ({"training.model": "dn-splatter"}, ["training.model", "dn-splatter is not available", "splatfacto"]),
    "mixed": ({"sfm": {"enable": True}}, ["sfm: this document is in the newer AWS form", "use one form"]),
}


def _changed(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    for path, value in changes.items():
        *parents, key = path.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[key] = value
    return out


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_newer_key_ends_in_one_failed_record_and_one_notice(drops: Drops, case: str) -> None:
    changes, words = BAD[case]
    drops.put(f"media-input/{MEDIA}", b"mp4")
    drops.put(f"workflow-input/{case}.json", json.dumps(_changed(guidance_job(case, drops.bucket_name), changes)))

    first = drops.tick()
    drops.new_notices()

    assert first.run_requests == [] and drops.retried() == {}
    record = drops.records()[case]
    assert record.status == "FAILED" and record.failed_at == "intake", record
    for word in words:
        assert word in record.error, (word, record.error)
    notices = [n for n in drops.notices if n["uuid"] == case]
    assert [n["event"] for n in notices] == ["FAILED"] and words[-1] in notices[0]["text"]
    assert drops.tick().run_requests == [] and drops.new_notices() == []  # handled once, never again
