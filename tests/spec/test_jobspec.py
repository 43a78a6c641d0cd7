"""The job JSON contract (docs/JOB_JSON.md): loose typing accepted, mistakes all reported."""

from __future__ import annotations

import copy
import json

import pytest

from gs_stages.jobspec import UUID_MAX_LENGTH, JobSpecError, parse_job

# The reference system's own example: every value a string, the face list a Python literal.
REFERENCE_EXAMPLE = {
    "uuid": "4c0f3c1e-9f4e-4b43-a1a8-0d2f5c7e9b11",
    "instanceType": "ml.g5.4xlarge",
    "logVerbosity": "info",
    "s3": {
        "bucketName": "my-splat-bucket",
        "inputPrefix": "media-input",
        "inputKey": "garden.mp4",
        "outputPrefix": "workflow-output",
    },
    "videoProcessing": {"maxNumImages": "300"},
    "imageProcessing": {"filterBlurryImages": "true"},
    "sfm": {
        "enable": "true",
        "softwareName": "glomap",
        "enableEnhancedFeatureExtraction": "false",
        "matchingMethod": "sequential",
        "posePriors": {
            "usePosePriorColmapModelFiles": "false",
            "usePosePriorTransformJson": {
                "enable": "false",
                "sourceCoordinateName": "arkit",
                "poseIsWorldToCam": "true",
            },
        },
    },
    "training": {
        "enable": "true",
        "maxSteps": "15000",
        "model": "splatfacto",
        "enableMultiGpu": "false",
        "rotateSplat": "true",
    },
    "sphericalCamera": {
        "enable": "false",
        "cubeFacesToRemove": "['down', 'up']",
        "optimizeSequentialFrameOrder": "true",
    },
    "segmentation": {
        "removeBackground": "false",
        "backgroundRemovalModel": "u2net",
        "maskThreshold": "0.6",
        "removeHumanSubject": "false",
    },
}


def _typed_twin(document: dict) -> dict:
    """The same job written with JSON types instead of strings."""
    twin = copy.deepcopy(document)
    twin["videoProcessing"]["maxNumImages"] = 300
    twin["imageProcessing"]["filterBlurryImages"] = True
    twin["sfm"]["enable"] = True
    twin["sfm"]["enableEnhancedFeatureExtraction"] = False
    prior = twin["sfm"]["posePriors"]
    prior["usePosePriorColmapModelFiles"] = False
    prior["usePosePriorTransformJson"]["enable"] = False
    prior["usePosePriorTransformJson"]["poseIsWorldToCam"] = True
    twin["training"].update(enable=True, maxSteps=15000, enableMultiGpu=False, rotateSplat=True)
    twin["sphericalCamera"].update(enable=False, cubeFacesToRemove=["down", "up"], optimizeSequentialFrameOrder=True)
    twin["segmentation"].update(removeBackground=False, maskThreshold=0.6, removeHumanSubject=False)
    return twin


def test_reference_example_and_typed_twin_parse_to_the_same_model() -> None:
    loose = parse_job(json.dumps(REFERENCE_EXAMPLE), file_name=f"{REFERENCE_EXAMPLE['uuid']}.json")
    typed = parse_job(_typed_twin(REFERENCE_EXAMPLE))
    assert loose == typed
    assert loose.training.max_steps == 15000
    assert loose.spherical_camera.cube_faces_to_remove == ["down", "up"]
    assert loose.sfm.pose_priors.transform_json.pose_is_world_to_cam is True
    # The canonical form is JSON-typed and parses back to the same model.
    assert parse_job(loose.to_json()) == loose


@pytest.mark.parametrize("text", ["false", "False", "FALSE", " false "])
def test_false_strings_are_false_in_any_case(text: str) -> None:
    """The reference treated poseIsWorldToCam "false" as true; we must not."""
    doc = copy.deepcopy(REFERENCE_EXAMPLE)
    doc["sfm"]["posePriors"]["usePosePriorTransformJson"]["poseIsWorldToCam"] = text
    assert parse_job(doc).sfm.pose_priors.transform_json.pose_is_world_to_cam is False


def test_minimal_document_gets_the_documented_defaults() -> None:
    spec = parse_job({"uuid": "job-1", "s3": {"bucketName": "bucket", "inputKey": "a.zip"}})
    assert spec.instance_type == "ml.g5.4xlarge"
    assert spec.s3.input_prefix == "media-input" and spec.s3.output_prefix == "workflow-output"
    assert spec.video_processing.max_num_images == 300
    assert spec.sfm.software_name == "glomap" and spec.sfm.matching_method == "sequential"
    assert spec.training.max_steps == 15000 and spec.training.model == "splatfacto"
    assert spec.segmentation.mask_threshold == pytest.approx(0.6)
    assert spec.media_kind == "archive"


def test_five_mistakes_report_five_errors_with_their_paths() -> None:
    doc = copy.deepcopy(REFERENCE_EXAMPLE)
    doc["videoProcessing"]["maxNumImages"] = "lots"  # not a number
    doc["sfm"]["matchingMethod"] = "fastest"  # not allowed
    doc["training"]["maxStep"] = "100"  # unknown key (typo)
    doc["segmentation"]["maskThreshold"] = "1.5"  # out of range
    doc["instanceType"] = "ml.p5.48xlarge"  # not on the allow-list
    with pytest.raises(JobSpecError) as caught:
        parse_job(doc)
    paths = sorted(path for path, _ in caught.value.problems)
    assert paths == [
        "instanceType",
        "segmentation.maskThreshold",
        "sfm.matchingMethod",
        "training.maxStep",
        "videoProcessing.maxNumImages",
    ]
    assert "unknown key 'maxStep'" in str(caught.value)
    assert "5 problems" in str(caught.value)


def test_context_checks_uuid_file_name_bucket_and_operator_allow_list() -> None:
    doc = copy.deepcopy(REFERENCE_EXAMPLE)
    doc["instanceType"] = "ml.p4d.24xlarge"
    with pytest.raises(JobSpecError) as caught:
        parse_job(doc, file_name="workflow-input/other.json", deployment_bucket="the-real-bucket")
    messages = dict(caught.value.problems)
    assert "other" in messages["uuid"]
    assert "the-real-bucket" in messages["s3.bucketName"]
    assert "ml.p4d.24xlarge" in messages["instanceType"]
    # An operator can extend the allow-list.
    spec = parse_job(doc, instance_types=["ml.g5.4xlarge", "ml.p4d.24xlarge"])
    assert spec.instance_type == "ml.p4d.24xlarge"


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"uuid": "bad uuid!"}, "uuid"),
        ({"s3": {"bucketName": "b-b-b", "inputKey": "notes.txt"}}, "s3.inputKey"),
        ({"sfm": {"enable": "false"}}, "sfm.enable"),
        ({"training": {"enable": "maybe"}}, "training.enable"),
        ({"sphericalCamera": {"cubeFacesToRemove": "['down', 'sideways']"}}, "sphericalCamera.cubeFacesToRemove[1]"),
    ],
)
def test_single_mistakes_name_their_path(patch: dict, path: str) -> None:
    doc = {"uuid": "job-1", "s3": {"bucketName": "bucket", "inputKey": "a.mp4"}}
    for key, value in patch.items():
        doc[key] = value
    with pytest.raises(JobSpecError) as caught:
        parse_job(doc)
    assert path in [p for p, _ in caught.value.problems], caught.value.problems


def test_exclusive_pose_priors_and_sfm_off_without_priors_are_refused() -> None:
    doc = {
        "uuid": "job-1",
        "s3": {"bucketName": "bucket", "inputKey": "a.zip"},
        "sfm": {
            "posePriors": {
                "usePosePriorColmapModelFiles": "true",
                "usePosePriorTransformJson": {"enable": "true"},
            }
        },
    }
    with pytest.raises(JobSpecError, match="exclude each other"):
        parse_job(doc)
    priors_off = {"uuid": "job-1", "s3": {"bucketName": "bucket", "inputKey": "a.zip"}, "sfm": {"enable": False}}
    with pytest.raises(JobSpecError, match="needs pose priors"):
        parse_job(priors_off)


def test_overrides_are_validated_and_unknown_options_refused() -> None:
    spec = parse_job(REFERENCE_EXAMPLE)
    retrain = spec.with_overrides({"training.maxSteps": "500", "training.model": "splatfacto-mcmc"})
    assert retrain.training.max_steps == 500 and retrain.training.model == "splatfacto-mcmc"
    with pytest.raises(JobSpecError, match="no such option"):
        spec.with_overrides({"training.steps": 5})
    with pytest.raises(JobSpecError, match=r"training\.maxSteps"):
        spec.with_overrides({"training.maxSteps": 0})


def test_u2net_human_spellings_and_empty_face_list() -> None:
    doc = {
        "uuid": "job-1",
        "s3": {"bucketName": "bucket", "inputKey": "a.MOV"},
        "segmentation": {"backgroundRemovalModel": "u2net_human"},
        "sphericalCamera": {"cubeFacesToRemove": "['']"},
    }
    spec = parse_job(doc)
    assert spec.segmentation.background_removal_model == "u2net-human"
    assert spec.spherical_camera.cube_faces_to_remove == []
    assert spec.media_kind == "video"


def test_python_field_names_are_unknown_keys_with_their_json_path() -> None:
    """Only the JSON keys are input: `input_key`/`max_steps` must not pass as `inputKey`/`maxSteps`."""
    doc = {"uuid": "a1", "s3": {"bucketName": "gs-local", "input_key": "a.mp4"}, "training": {"max_steps": 5}}
    with pytest.raises(JobSpecError) as caught:
        parse_job(doc)
    problems = dict(caught.value.problems)
    assert problems["s3.input_key"] == "unknown key 'input_key': the JSON key is 'inputKey'"
    assert problems["training.max_steps"] == "unknown key 'max_steps': the JSON key is 'maxSteps'"
    assert problems["s3.inputKey"] == "required"
    nested = {"uuid": "a1", "s3": {"bucketName": "gs-local", "inputKey": "a.zip"}}
    nested["sfm"] = {"posePriors": {"usePosePriorTransformJson": {"pose_is_world_to_cam": "false"}}}
    with pytest.raises(JobSpecError) as caught:
        parse_job(nested)
    assert [path for path, _ in caught.value.problems] == [
        "sfm.posePriors.usePosePriorTransformJson.pose_is_world_to_cam"
    ]


def _problems(**patch: object) -> list[tuple[str, str]]:
    doc: dict[str, object] = {"uuid": "job-1", "s3": {"bucketName": "bucket", "inputKey": "a.mp4"}, **patch}
    with pytest.raises(JobSpecError) as caught:
        parse_job(doc)
    return caught.value.problems


def test_a_too_long_uuid_is_told_the_cap_and_why() -> None:
    assert parse_job({"uuid": "u" * UUID_MAX_LENGTH, "s3": {"bucketName": "bucket", "inputKey": "a.mp4"}})
    [(path, message)] = _problems(uuid="u" * (UUID_MAX_LENGTH + 1))
    assert path == "uuid"
    assert f"at most {UUID_MAX_LENGTH} characters, got {UUID_MAX_LENGTH + 1}" in message
    assert "SageMaker training job name" in message and "63 characters" in message


def test_a_null_instance_type_is_one_problem() -> None:
    assert _problems(instanceType=None) == [("instanceType", "expected a string, got null")]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", float("nan"), "1.5"])
def test_mask_threshold_out_of_range_or_not_finite_says_between_0_and_1(value: object) -> None:
    [(path, message)] = _problems(segmentation={"maskThreshold": value})
    assert path == "segmentation.maskThreshold"
    assert message.startswith("must be a number between 0 and 1, got ")
