"""The S3 statements of a Terraform `aws_iam_policy_document` (infra/terraform) as the IAM JSON that AWS would
receive, for one bucket, so a test can hold code to the deployment's real policy under moto's IAM checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM = Path(__file__).resolve().parents[2] / "infra" / "terraform"


def _plain(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _defaults() -> dict[str, str]:
    found = {}
    for path in TERRAFORM.glob("*.tf"):
        for entry in hcl2.load(path.open()).get("variable", []):
            for name, body in entry.items():
                if isinstance(body.get("default"), str):
                    found[_plain(name)] = _plain(body["default"])
    return found


def _document(name: str) -> dict[str, Any]:
    for path in TERRAFORM.glob("*.tf"):
        for entry in hcl2.load(path.open()).get("data", []):
            named = entry.get('"aws_iam_policy_document"') or entry.get("aws_iam_policy_document") or {}
            for key, body in named.items():
                if _plain(key) == name:
                    return body
    raise KeyError(f"no aws_iam_policy_document {name!r} in {TERRAFORM}")


def s3_policy(document: str, bucket: str) -> dict[str, Any]:
    """The statements of `document` that grant only s3: actions, with the bucket and variables filled in."""
    variables = _defaults()

    def fill(text: str) -> str:
        text = _plain(text).replace("${aws_s3_bucket.data.arn}", f"arn:aws:s3:::{bucket}")
        return re.sub(r"\$\{var\.(\w+)\}", lambda m: variables[m.group(1)], text)

    statements = []
    for statement in _document(document)["statement"]:
        actions = [_plain(a) for a in statement["actions"]]
        if not all(a.startswith("s3:") for a in actions):
            continue
        rendered: dict[str, Any] = {
            "Sid": _plain(statement.get("sid", "")),
            "Effect": _plain(statement.get("effect", "Allow")),
            "Action": actions,
            "Resource": [fill(r) for r in statement["resources"]],
        }
        for condition in statement.get("condition", []):
            test, variable = _plain(condition["test"]), _plain(condition["variable"])
            rendered.setdefault("Condition", {}).setdefault(test, {})[variable] = [fill(v) for v in condition["values"]]
        statements.append(rendered)
    return {"Version": "2012-10-17", "Statement": statements}
