"""StopTrainingJob in the middle of training, with this checkout's entrypoint and with the built image.

SageMaker stops a training container, for StopTrainingJob or a reclaimed spot instance, with SIGTERM
to its first process. In the image that process is the entrypoint itself (exec-form ENTRYPOINT, no
shell in between), which must flush its messages and exit 143 while the stages it finished stay
published. The stop comes after the sparse model stage imported pycolmap, whose glog installs its own
SIGTERM handler (gs_stages.sagemaker_entry.claim_sigterm): before that was handled, the image's
container ignored the stop and trained on. `docker run` proxies the signal, as SageMaker's stop does.
"""

from __future__ import annotations

import subprocess
import time
import uuid as uuidlib

import pytest

from gs_dagster.resources.sagemaker_request import (
    SageMakerSettings,
    build_create_training_job_request,
    training_job_name,
)
from gs_dagster.sample import SampleSpec, write_sample

from .conftest import BUCKET, IMAGE, ROLE, ROOT_PREFIX, make_spec
from .image_run import ImageRun, built_image

CHAIN = ["frames", "masks", "sparse_model", "splat"]


@pytest.mark.slow
@pytest.mark.parametrize("image", [None, built_image()], ids=["checkout", "image"])
def test_a_stop_during_training_ends_the_entrypoint_gracefully(make_harness, s3, tmp_path, image: ImageRun | None):
    if image is not None and (why := image.available()):
        pytest.skip(why)
    uuid = f"stop-{uuidlib.uuid4().hex[:12]}"
    media = write_sample(tmp_path / "orbit.zip", SampleSpec(views=16, width=240, height=180))
    s3.put_object(Bucket=BUCKET, Key=f"media-input/{uuid}.zip", Body=media.read_bytes())
    spec = make_spec(
        uuid,
        s3={"bucketName": BUCKET, "inputPrefix": "media-input", "inputKey": f"{uuid}.zip"},
        sfm={"matchingMethod": "exhaustive"},
        training={"maxSteps": 100000},  # far longer than the test waits: the stop lands in training
    )
    settings = SageMakerSettings(image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}")
    name = training_job_name("gs", uuid, run_id="stop-test", step_key="reconstruction", attempt=0, stages=CHAIN)
    request = build_create_training_job_request(
        settings,
        spec,
        CHAIN,
        job_name=name,
        environment={},
        run_id="stop-test",
        engine_settings={"max_image_side": 240},
    )
    harness = make_harness(image=image)
    harness.create_training_job(**request)
    played = harness.jobs[name]

    deadline = time.monotonic() + 600
    while "stage splat: start" not in _log(harness, name):
        assert not played.done.is_set(), _log(harness, name)[-3000:]
        assert time.monotonic() < deadline, _log(harness, name)[-3000:]
        time.sleep(1.0)
    time.sleep(3.0)  # into the training loop
    harness.stop_training_job(TrainingJobName=name)

    assert played.done.wait(120), _log(harness, name)[-3000:]
    assert played.status == "Stopped" and played.exit_codes == [143], (played.exit_codes, _log(harness, name)[-3000:])
    assert "SIGTERM: flushing messages" in _log(harness, name)
    if image is not None:
        running = subprocess.run([image.docker, "ps", "-a", "-q", "--filter", f"name=^{name}-0$"], capture_output=True)
        assert running.stdout.strip() == b""  # the container is gone (--rm), nothing left behind
    root = request["HyperParameters"]["output_root"].removeprefix(f"s3://{BUCKET}/")
    published = [
        stage
        for stage in CHAIN
        if s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{root}/{stage}/{uuid}/_sagemaker_complete.json").get("KeyCount")
    ]
    assert published == CHAIN[:3]  # what finished before the stop stays published; splat never was


def _log(harness, name: str) -> str:
    path = harness.jobs[name].opt_ml.parent / "container-0.log"
    return path.read_text() if path.exists() else ""
