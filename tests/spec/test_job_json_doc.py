"""docs/JOB_JSON.md and the job-spec model must not drift apart: the same JSON paths, the same defaults,
every allowed value of a fixed set named, the same uuid cap."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES, UUID_MAX_LENGTH, JobSpec, JobSpecError, parse_job

DOC = Path(__file__).resolve().parents[2] / "docs" / "JOB_JSON.md"
MINIMAL: dict[str, Any] = {"uuid": "job-1", "s3": {"bucketName": "bucket", "inputKey": "a.zip"}}
PATH_CELL = re.compile(r"`([A-Za-z0-9.]+)`")
DEFAULT_CELL = re.compile(r"required|`([^`]+)`")


def model_paths(model: type[BaseModel] = JobSpec, prefix: str = "") -> dict[str, FieldInfo]:
    """Every JSON path the model accepts, by alias, sections included, recursively."""
    paths: dict[str, FieldInfo] = {}
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        paths[path] = field
        if _is_section(field):
            paths.update(model_paths(field.annotation, path + "."))  # type: ignore[arg-type]
    return paths


def _is_section(field: FieldInfo) -> bool:
    return isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)


def _choices(field: FieldInfo) -> tuple[Any, ...]:
    """The values of a Literal field, or of a list of Literals; () for an open type."""
    annotation = field.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return get_args(annotation) if get_origin(annotation) is Literal else ()


@dataclass(frozen=True)
class Row:
    path: str
    allowed: str
    default: str


def doc_rows(text: str) -> list[Row]:
    """The rows of every table whose first column is "JSON path"."""
    rows: list[Row] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif header[0] == "JSON path" and not set(cells[0]) <= set("-: "):
            match = PATH_CELL.fullmatch(cells[0])
            rows.append(Row(match.group(1) if match else cells[0], cells[2], cells[3]))
    return rows


def _at(document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for key in path.split("."):
        node = node[key]
    return node


def _with(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, leaf = path.split(".")
    node = changed
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return changed


def doc_problems(text: str) -> list[str]:
    """Every disagreement between the doc's tables and the model; [] when they agree."""
    problems: list[str] = []
    fields = model_paths()
    rows = doc_rows(text)
    written = [row.path for row in rows]
    problems += [f"{path}: in more than one row" for path in sorted({p for p in written if written.count(p) > 1})]
    problems += [f"{path}: accepted by the model, missing from the doc" for path in sorted(set(fields) - set(written))]
    problems += [f"{path}: in the doc, not accepted by the model" for path in sorted(set(written) - set(fields))]
    baseline = parse_job(MINIMAL)
    canonical = baseline.to_json()
    for row in rows:
        field = fields.get(row.path)
        if field is None:
            continue
        cell = DEFAULT_CELL.fullmatch(row.default)
        if cell is None:
            problems.append(f"{row.path}: default {row.default!r} is neither `JSON` nor required")
            continue
        if cell.group(1) is None:
            if not field.is_required():
                problems.append(f"{row.path}: the doc says required, the model has a default")
            continue
        if field.is_required():
            problems.append(f"{row.path}: the doc gives a default, the model requires it")
            continue
        documented = json.loads(cell.group(1))
        if _is_section(field):
            # `{}`: the section left out and the section given empty are the same job.
            if documented != {} or parse_job(_with(MINIMAL, row.path, {})) != baseline:
                problems.append(f"{row.path}: default {row.default} is not the section's defaults")
        elif documented != _at(canonical, row.path):
            problems.append(f"{row.path}: the doc's default {documented!r}, the model's {_at(canonical, row.path)!r}")
        else:
            try:  # writing the documented default explicitly must change nothing
                unchanged = parse_job(_with(MINIMAL, row.path, documented)) == baseline
            except JobSpecError as exc:
                unchanged = False
                problems.append(f"{row.path}: the documented default is refused: {exc}")
            if not unchanged:
                problems.append(f"{row.path}: writing the default {row.default} changes the job")
        allowed = DEFAULT_INSTANCE_TYPES if row.path == "instanceType" else _choices(field)
        problems += [f"{row.path}: allowed value {v!r} not named" for v in allowed if f"`{v}`" not in row.allowed]
    return problems


def test_the_doc_and_the_model_agree_on_paths_defaults_and_choices() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(doc_rows(text)) == len(model_paths())
    assert doc_problems(text) == []


def test_the_doc_states_the_uuid_cap_of_the_model() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"1 to {UUID_MAX_LENGTH} characters" in text
    assert "63 characters" in text


def test_the_check_notices_each_kind_of_drift() -> None:
    text = DOC.read_text(encoding="utf-8")
    rotate = next(line for line in text.splitlines() if line.startswith("| `training.rotateSplat`"))
    drifted = {
        "training.maxSteps: the doc's default 15001": text.replace("| `15000` |", "| `15001` |"),
        "training.rotateSplat: accepted by the model, missing": text.replace(rotate + "\n", ""),
        "training.maxStep: in the doc, not accepted": text.replace(
            rotate, rotate + "\n| `training.maxStep` | x | x | `1` | x |"
        ),
        "s3.inputKey: the doc gives a default": text.replace("any case | required |", 'any case | `"x.zip"` |'),
        "training.model: allowed value '3dgrt' not named": text.replace(
            "`nerfacto` and `3dgrt` are trained", "`nerfacto` are trained"
        ),
    }
    for expected, changed in drifted.items():
        assert changed != text, expected
        problems = doc_problems(changed)
        assert any(p.startswith(expected) for p in problems), (expected, problems)
