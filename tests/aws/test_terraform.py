"""infra/terraform, statically: it parses, checkov passes with every skip justified inline, IAM policies
name only resources declared here, the bucket lifecycle never archives, outputs feed the Dagster config."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
CHECKOV_VENV = ROOT / ".work" / "checkov-venv" / "bin" / "checkov"

#: Actions AWS offers no resource-level permission for: the only ones a policy may grant on "*".
STAR_ACTIONS = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "sagemaker:ListTrainingJobs"}
#: ARNs of resources created at run time (so no Terraform resource declares them), with the reason.
RUNTIME_ARNS = {
    # training jobs are created by the Dagster role, named <job_name_prefix>-...
    "arn:${data.aws_partition.current.partition}:sagemaker:${data.aws_region.current.name}:"
    "${data.aws_caller_identity.current.account_id}:training-job/${var.job_name_prefix}-*",
}


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def parsed() -> dict[str, dict[str, Any]]:
    return {path.name: hcl2.load(path.open()) for path in sorted(TERRAFORM.glob("*.tf"))}


def _blocks(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every `resource`/`data` block across the files."""
    found = []
    for document in parsed().values():
        for entry in document.get(kind, []):
            for type_, named in entry.items():
                for name, body in named.items():
                    found.append((_unquote(type_), _unquote(name), body))
    return found


def _locals() -> dict[str, str]:
    values: dict[str, str] = {}
    for document in parsed().values():
        for entry in document.get("locals", []):
            values.update({k: v for k, v in entry.items() if not k.startswith("__")})
    return values


def _expand_locals(text: str) -> str:
    values = _locals()
    for _ in range(10):
        match = re.search(r"\$\{local\.(\w+)\}", text)
        if not match:
            return text
        value = values[match.group(1)]
        inner = value[2:-1] if value.startswith("${") and value.endswith("}") else None
        replacement = "${" + inner + "}" if inner is not None else _unquote(value)
        text = text[: match.start()] + replacement + text[match.end() :]
    raise AssertionError(f"locals nest too deep in {text!r}")


def policy_problems(documents: dict[str, dict[str, Any]], declared: set[str], key_policies: set[str]) -> list[str]:
    """Every Resource of every policy statement: a declared resource's attribute, an allowed run-time ARN,
    or "*" for actions without resource-level permissions (or in a KMS key policy: the key itself)."""
    problems = []
    for doc_name, body in documents.items():
        for statement in body.get("statement", []):
            actions = {_unquote(a) for a in statement.get("actions", [])}
            for raw in statement.get("resources", []) + statement.get("not_resources", []):
                text = _expand_locals(_unquote(raw))
                where = f"{doc_name}/{_unquote(statement.get('sid', '?'))}: {text}"
                if text == "*":
                    if doc_name not in key_policies and not actions <= STAR_ACTIONS:
                        problems.append(f"{where} grants {sorted(actions - STAR_ACTIONS)} on every resource")
                    continue
                if text in RUNTIME_ARNS:
                    continue
                match = re.match(r"^\$\{(aws_\w+\.\w+)\.\w+\}", text)
                if not match:
                    problems.append(f"{where} does not start with a resource declared here")
                elif match.group(1) not in declared:
                    problems.append(f"{where} names {match.group(1)}, which is not declared here")
                for ref in re.findall(r"\$\{([^}]*)\}", text)[1:]:
                    if not re.fullmatch(r"var\.\w+", ref):
                        problems.append(f"{where}: only variables may follow the resource, got ${{{ref}}}")
    return problems


def _policy_documents() -> dict[str, dict[str, Any]]:
    return {name: body for type_, name, body in _blocks("data") if type_ == "aws_iam_policy_document"}


def _declared() -> set[str]:
    return {f"{type_}.{name}" for type_, name, _ in _blocks("resource")}


def _key_policies() -> set[str]:
    names = set()
    for type_, _, body in _blocks("resource"):
        if type_ == "aws_kms_key":
            match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", body["policy"])
            assert match, body["policy"]
            names.add(match.group(1))
    return names


def test_every_file_parses():
    files = parsed()
    assert {"versions.tf", "variables.tf", "s3.tf", "iam_sagemaker.tf", "iam_dagster.tf", "outputs.tf"} <= set(files)
    kinds = {type_ for type_, _, _ in _blocks("resource")}
    assert {
        "aws_s3_bucket",
        "aws_dynamodb_table",
        "aws_sns_topic",
        "aws_ecr_repository",
        "aws_iam_role",
        "aws_kms_key",
        "aws_cloudwatch_log_group",
    } <= kinds


def test_iam_policies_name_only_resources_declared_here():
    documents = _policy_documents()
    assert {"sagemaker", "dagster", "kms", "data_bucket", "logs_bucket"} <= set(documents)
    assert policy_problems(documents, _declared(), _key_policies()) == []


def test_the_policy_check_catches_foreign_resources():
    bad = {
        "doc": {
            "statement": [
                {"sid": '"A"', "actions": ['"s3:GetObject"'], "resources": ['"arn:aws:s3:::someone-else/*"']},
                {"sid": '"B"', "actions": ['"s3:PutObject"'], "resources": ['"*"']},
                {"sid": '"C"', "actions": ['"sns:Publish"'], "resources": ["${aws_sns_topic.other.arn}"]},
                {"sid": '"D"', "actions": ['"s3:GetObject"'], "resources": ['"${var.any_bucket_arn}/*"']},
            ]
        }
    }
    problems = policy_problems(bad, _declared(), set())
    assert len(problems) == 4, problems


def test_roles_are_least_privilege_in_the_ways_that_matter():
    documents = _policy_documents()
    dagster = {_unquote(s["sid"]): s for s in documents["dagster"]["statement"]}
    passrole = dagster["PassOnlyTheSageMakerRole"]
    assert passrole["resources"] == ["${aws_iam_role.sagemaker.arn}"]
    assert _unquote(passrole["condition"][0]["values"][0]) == "sagemaker.amazonaws.com"
    create = dagster["CreateTrainingJobsOnAllowedInstances"]
    assert [_unquote(a) for a in create["actions"]] == ["sagemaker:CreateTrainingJob"]
    assert {_unquote(c["variable"]) for c in create["condition"]} == {
        "sagemaker:InstanceTypes",
        "sagemaker:OutputKmsKey",
    }
    sweeper = dagster["ListTrainingJobsForTheOrphanSweeper"]  # the only "*" grant: list, nothing else
    assert [_unquote(a) for a in sweeper["actions"]] == ["sagemaker:ListTrainingJobs"]
    watch = {_unquote(a) for a in dagster["TagWatchAndStopTrainingJobs"]["actions"]}
    assert {"sagemaker:ListTags", "sagemaker:StopTrainingJob"} <= watch
    every_action = {_unquote(a) for doc in documents.values() for s in doc["statement"] for a in s["actions"]}
    assert not any(a.startswith("logs:Get") or a.startswith("logs:Filter") for a in every_action), "no log polling"
    sagemaker_writes = {
        _expand_locals(_unquote(r))
        for s in documents["sagemaker"]["statement"]
        if "s3:PutObject" in {_unquote(a) for a in s["actions"]}
        for r in s["resources"]
    }
    assert sagemaker_writes == {"${aws_s3_bucket.data.arn}/${var.storage_prefix}/*"}


def test_bucket_lifecycle_never_archives_and_expires_only_scratch():
    (lifecycle,) = [
        b for t, n, b in _blocks("resource") if t == "aws_s3_bucket_lifecycle_configuration" and n == "data"
    ]
    text = json.dumps(lifecycle)
    assert "transition" not in text  # no Glacier/IA: models and in-flight inputs stay readable
    for rule in lifecycle["rule"]:
        if "expiration" in rule:
            prefix = _unquote(rule["filter"][0]["prefix"])
            # scratch only: Pipes messages, checkpoints, SageMaker output, and launches' staging of stage outputs
            scratch = r"\$\{var\.storage_prefix\}/(_(pipes|checkpoints|sagemaker)|\.staging)/"
            assert re.fullmatch(scratch, prefix), prefix


def test_storage_is_locked_down():
    resources = {(t, n): b for t, n, b in _blocks("resource")}
    for bucket in ("data", "logs"):
        block = resources[("aws_s3_bucket_public_access_block", bucket)]
        assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
        policy = resources[("aws_s3_bucket_policy", bucket)]["policy"]
        assert policy == f"${{data.aws_iam_policy_document.{bucket}_bucket.json}}"
        statements = _policy_documents()[f"{bucket}_bucket"]["statement"]
        (tls,) = [s for s in statements if _unquote(s["sid"]) == "DenyInsecureTransport"]
        assert _unquote(tls["effect"]) == "Deny" and _unquote(tls["condition"][0]["variable"]) == "aws:SecureTransport"
    sse = resources[("aws_s3_bucket_server_side_encryption_configuration", "data")]
    assert _unquote(sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"]) == "aws:kms"
    assert resources[("aws_s3_bucket_logging", "data")]["target_bucket"] == "${aws_s3_bucket.logs.id}"
    table = resources[("aws_dynamodb_table", "jobs")]
    assert _unquote(table["billing_mode"]) == "PAY_PER_REQUEST"
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["kms_key_arn"] == "${aws_kms_key.main.arn}"
    repo = resources[("aws_ecr_repository", "trainer")]
    assert _unquote(repo["image_tag_mutability"]) == "IMMUTABLE"
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True
    assert resources[("aws_sns_topic", "jobs")]["kms_master_key_id"] == "${aws_kms_key.main.arn}"


def test_outputs_feed_the_dagster_configuration():
    from gs_dagster.config import GsConfig
    from gs_dagster.resources.sagemaker import SageMakerLauncher

    outputs = {}
    for document in parsed().values():
        for entry in document.get("output", []):
            outputs.update({_unquote(k): v for k, v in entry.items()})
    env_block = outputs["dagster_env"]["value"]
    names = {k for k in env_block if not k.startswith("__")}
    assert {"GS_BUCKET", "GS_STORAGE_ROOT", "GS_JOB_TABLE", "GS_NOTIFIER", "GS_SAGEMAKER_IMAGE_URI"} <= names
    sample = {
        "AWS_REGION": "us-east-1",
        "GS_BUCKET": "s3://gs-dagster-data-1-us-east-1",
        "GS_STORAGE_ROOT": "s3://gs-dagster-data-1-us-east-1/gs-storage",
        "GS_JOB_TABLE": "dynamodb://gs-dagster-jobs",
        "GS_NOTIFIER": "arn:aws:sns:us-east-1:1:gs-dagster-jobs",
        "GS_INTAKE_PREFIX": "workflow-input",
        "GS_MEDIA_PREFIXES": "media-input",
        "GS_OUTPUT_PREFIXES": "workflow-output",
        "GS_INSTANCE_TYPES": "ml.g5.4xlarge",
        "GS_LAUNCHER": "sagemaker",
        "GS_SAGEMAKER_IMAGE_URI": "1.dkr.ecr.us-east-1.amazonaws.com/gs-dagster-trainer:0.1.0",
        "GS_SAGEMAKER_ROLE_ARN": "arn:aws:iam::1:role/gs-dagster-sagemaker",
        "GS_SAGEMAKER_KMS_KEY_ID": "arn:aws:kms:us-east-1:1:key/k",
        "GS_SAGEMAKER_JOB_NAME_PREFIX": "gs",
    }
    assert names == set(sample), "keep this sample in step with outputs.tf"
    config = GsConfig.from_env(sample)
    assert config.aws_mode and config.storage_root == sample["GS_STORAGE_ROOT"]
    assert config.job_table == sample["GS_JOB_TABLE"] and config.notifier == sample["GS_NOTIFIER"]
    assert config.media_prefixes == ("media-input",) and config.output_prefixes == ("workflow-output",)
    launcher = SageMakerLauncher.from_env(sample)
    assert launcher.image_uri.endswith(":0.1.0") and launcher.kms_key_id == sample["GS_SAGEMAKER_KMS_KEY_ID"]
    # the Terraform default storage prefix is the one gs_dagster assumes when GS_STORAGE_ROOT is unset
    (storage_prefix,) = [
        v for d in parsed().values() for e in d.get("variable", []) for k, v in e.items() if k == '"storage_prefix"'
    ]
    assert _unquote(storage_prefix["default"]) == "gs-storage"


def _skip_comments() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(TERRAFORM.glob("*.tf")):
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text()):
            found.append((path.name, match.group(1), (match.group(2) or "").strip()))
    return found


def _checkov() -> list[str] | None:
    found = shutil.which("checkov", path=str(Path(sys.executable).parent))
    if found:
        return [found]
    if CHECKOV_VENV.exists():
        return [str(CHECKOV_VENV)]
    return None


def test_checkov_passes_with_every_skip_justified():
    skips = _skip_comments()
    assert all(len(reason) >= 20 for _, _, reason in skips), [s for s in skips if len(s[2]) < 20]
    command = _checkov()
    if command is None:
        pytest.skip(
            "checkov is not installed: its pins fight ours, so it lives in its own venv "
            "(python -m venv .work/checkov-venv && .work/checkov-venv/bin/pip install checkov==3.3.30)"
        )
    result = subprocess.run(
        [*command, "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report.get("results", {}).get("failed_checks", [])]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0, failed
    assert summary["passed"] >= 100
    skipped = report["results"]["skipped_checks"]
    assert len(skipped) == len(skips), "every inline skip suppresses a check that would fail, and no other"
    assert all(len(c["check_result"].get("suppress_comment", "")) >= 20 for c in skipped)
    print(f"checkov {summary['checkov_version']}: {summary['passed']} passed, 0 failed, {len(skipped)} skipped")


def test_gs_launcher_sagemaker_selects_the_sagemaker_launcher_with_the_gpu_pool():
    from gs_dagster.assets.pipeline import reconstruction
    from gs_dagster.config import GsConfig
    from gs_dagster.resources.local_launcher import LocalPipesLauncher
    from gs_dagster.resources.sagemaker import GPU_POOL, SageMakerLauncher

    env = {
        "GS_BUCKET": "s3://bucket",
        "GS_LAUNCHER": "sagemaker",
        "GS_SAGEMAKER_IMAGE_URI": "1.dkr.ecr.us-east-1.amazonaws.com/gs-dagster-trainer:0.1.0",
        "GS_SAGEMAKER_ROLE_ARN": "arn:aws:iam::1:role/gs-dagster-sagemaker",
        "GS_STAGE_SETTINGS": '{"max_image_side": 1600}',
    }
    launcher = GsConfig.from_env(env).resources()["launcher"]
    assert isinstance(launcher, SageMakerLauncher)
    assert launcher.image_uri == env["GS_SAGEMAKER_IMAGE_URI"] and launcher.settings == {"max_image_side": 1600}
    assert isinstance(GsConfig.from_env({}).resources()["launcher"], LocalPipesLauncher)
    with pytest.raises(ValueError, match="GS_LAUNCHER"):
        GsConfig.from_env({"GS_LAUNCHER": "ecs"})
    assert reconstruction.op.pool == GPU_POOL  # the pool that infra/dagster.yaml caps


def test_the_prefixes_jobs_may_name_are_the_ones_the_roles_grant():
    """GS_MEDIA_PREFIXES / GS_OUTPUT_PREFIXES (what submit and intake hold a job's s3 prefixes to) come from the
    same variables as the Dagster role's reads of media and writes of deliveries, and as its listing grant."""
    outputs = {}
    for document in parsed().values():
        for entry in document.get("output", []):
            outputs.update({_unquote(k): v for k, v in entry.items()})
    env = outputs["dagster_env"]["value"]
    assert env["GS_MEDIA_PREFIXES"] == "${var.media_prefix}"
    assert env["GS_OUTPUT_PREFIXES"] == "${var.job_output_prefix}"
    dagster = {_unquote(s["sid"]): s for s in _policy_documents()["dagster"]["statement"]}
    arn = "${aws_s3_bucket.data.arn}"

    def values(items: list[str]) -> set[str]:
        return {_unquote(v) for v in items}

    assert f"{arn}/${{var.media_prefix}}/*" in values(dagster["ReadUploads"]["resources"])
    assert f"{arn}/${{var.job_output_prefix}}/*" in values(dagster["ReadWriteStageOutputsAndDeliveries"]["resources"])
    listed = values(dagster["ListDeploymentPrefixes"]["condition"][0]["values"])
    assert {"${var.media_prefix}/*", "${var.job_output_prefix}/*"} <= listed
