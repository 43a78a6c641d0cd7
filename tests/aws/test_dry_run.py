"""The dry run prints the exact CreateTrainingJob request of a default job; docs/DEPLOYING.md shows it."""

import json
import re
from pathlib import Path

from gs_dagster import dry_run
from gs_dagster.resources.sagemaker_request import ENV_VALUE_MAX, JOB_NAME_MAX

DOC = Path(__file__).resolve().parents[2] / "docs" / "DEPLOYING.md"


def _printed(capsys, monkeypatch, *args: str) -> dict:
    for name in dry_run.placeholder_env():
        monkeypatch.delenv(name, raising=False)
    assert dry_run.main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_dry_run_prints_the_request_of_the_default_job(capsys, monkeypatch):
    request = _printed(capsys, monkeypatch)
    assert request["TrainingJobName"].startswith("gs-example-job-") and len(request["TrainingJobName"]) <= JOB_NAME_MAX
    assert request["HyperParameters"]["stages"] == "frames,masks,sparse_model,splat,spz"
    assert json.loads(request["HyperParameters"]["spec"])["uuid"] == "example-job"
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["media"]
    assert all(len(v) <= ENV_VALUE_MAX for v in request["Environment"].values())
    assert request["OutputDataConfig"]["KmsKeyId"].startswith("arn:aws:kms:")
    spot = _printed(capsys, monkeypatch, "--stages", "splat,spz", "--spot")
    assert spot["EnableManagedSpotTraining"] is True and spot["StoppingCondition"]["MaxWaitTimeInSeconds"] > 0
    assert {c["ChannelName"] for c in spot["InputDataConfig"]} == {"frames", "masks", "sparse_model"}


def test_the_deployment_guide_shows_the_current_dry_run(capsys, monkeypatch):
    documented = re.search(r"```json\n(.*?)\n```", DOC.read_text(), re.S)
    assert documented, "docs/DEPLOYING.md has no dry-run example"
    assert json.loads(documented.group(1)) == _printed(capsys, monkeypatch), (
        "docs/DEPLOYING.md is stale: paste the output of `python -m gs_dagster.dry_run`"
    )
