"""Reading a job document into the model (gs_stages/jobspec.py): every problem at once, each with its
JSON path, including those only the deployment knows (the file's name, the bucket, the allowed instance
types and key prefixes) and those between fields; the newest AWS guidance's form is translated first and
its problems named with its own paths."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gs_stages.job_guidance import guidance_path, is_guidance_form, translate
from gs_stages.job_text import JobSpecError, alias_path, document_of, json_path, json_text, json_type
from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES, JobSpec, S3Location
from gs_stages.s3_keys import PrefixGrants


def _section_at(keys: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section model at a path of JSON keys, or None where the path leaves the model."""
    section: type[BaseModel] = JobSpec
    for key in keys:
        field = next((f for name, f in section.model_fields.items() if (f.alias or name) == key), None)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        section = field.annotation
    return section


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    """Name the key; where it is a field's Python name ("max_steps"), name the JSON key to write instead."""
    key = loc[-1]
    section = _section_at(loc[:-1])
    field = section.model_fields.get(str(key)) if section is not None else None
    if field is not None and field.alias:
        return f"unknown key {key!r}: the JSON key is {field.alias!r}"
    known = [f.alias or name for name, f in section.model_fields.items()] if section is not None else []
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.8)
    if close:  # a typo of a key of this section: name it, so the fix needs no lookup in the docs
        return f"unknown key {key!r}: did you mean {close[0]!r}?"
    return f"unknown key {key!r} (check its spelling against docs/JOB_JSON.md)"


def _context_problems(
    data: Mapping[str, Any],
    *,
    file_name: str | None,
    deployment_bucket: str | None,
    instance_types: Iterable[str],
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    uuid = data.get("uuid")
    if file_name is not None and isinstance(uuid, str):
        stem = Path(file_name).name
        stem = stem[: -len(".json")] if stem.lower().endswith(".json") else stem
        if stem != uuid:
            hidden = " (a name starting with '.' is hidden and never a uuid: rename the file <uuid>.json)"
            problems.append(
                ("uuid", f"must equal the file's base name {stem!r}, got {uuid!r}{hidden * stem.startswith('.')}")
            )
    allowed = tuple(instance_types)
    instance = data.get("instanceType", "ml.g5.4xlarge")
    if isinstance(instance, str) and instance not in allowed:
        problems.append(("instanceType", f"{instance!r} is not allowed; choose one of {', '.join(allowed)}"))
    # Not a string at all: the model reports it, once.
    s3 = data.get("s3")
    bucket = s3.get("bucketName") if isinstance(s3, Mapping) else None
    if deployment_bucket is not None and isinstance(bucket, str) and bucket != deployment_bucket:
        problems.append(("s3.bucketName", f"{bucket!r} is not this deployment's bucket ({deployment_bucket!r})"))
    return problems


def _grant_problems(data: Mapping[str, Any], prefixes: PrefixGrants) -> list[tuple[str, str]]:
    """Prefixes outside the deployment's grants, read from the document as written (so they are named
    together with every other problem)."""
    s3 = data.get("s3")
    if not isinstance(s3, Mapping):
        return []
    fields = S3Location.model_fields
    media = s3.get("inputPrefix", fields["input_prefix"].default)
    output = s3.get("outputPrefix", fields["output_prefix"].default)
    if not (isinstance(media, str) and isinstance(output, str)):
        return []  # the model names a prefix that is not a string
    return prefixes.problems(media.strip("/"), output.strip("/"))


def _cross_field_problems(spec: JobSpec) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    priors = spec.sfm.pose_priors
    if priors.use_colmap_model_files and priors.transform_json.enable:
        problems.append(
            (
                "sfm.posePriors",
                "usePosePriorColmapModelFiles and usePosePriorTransformJson.enable exclude each other; pick one",
            )
        )
    if spec.uses_pose_priors and spec.media_kind != "archive":
        problems.append(("s3.inputKey", "pose priors come in a .zip (transforms.json or sparse/ with images/)"))
    if not spec.sfm.enable and not spec.uses_pose_priors:
        problems.append(
            (
                "sfm.enable",
                "false needs pose priors (usePosePriorTransformJson or usePosePriorColmapModelFiles): "
                "without SfM there are no camera poses",
            )
        )
    return problems


def parse_job(
    data: Mapping[str, Any] | str | bytes,
    *,
    file_name: str | None = None,
    deployment_bucket: str | None = None,
    instance_types: Iterable[str] = DEFAULT_INSTANCE_TYPES,
    prefixes: PrefixGrants | None = None,
) -> JobSpec:
    """Validate a job document and return the model, or raise JobSpecError listing every problem.

    `file_name` (the object's key or path) checks that uuid matches it; `deployment_bucket` refuses
    other buckets; `instance_types` is the operator's allow-list; `prefixes` the key prefixes the
    deployment's roles may use.
    """
    try:
        return _parse(data, file_name, deployment_bucket, tuple(instance_types), prefixes or PrefixGrants())
    except RecursionError:  # JSON nested thousands deep: json and pydantic recurse per level
        raise JobSpecError([("$", "nested too deeply to read; a job JSON is a few levels of objects")]) from None


def _parse(
    data: Mapping[str, Any] | str | bytes,
    file_name: str | None,
    deployment_bucket: str | None,
    instance_types: tuple[str, ...],
    prefixes: PrefixGrants,
) -> JobSpec:
    if isinstance(data, str | bytes):
        data = document_of(data)
    if not isinstance(data, Mapping):
        raise JobSpecError([("$", f"a job is a JSON object, got {json_type(data)}")])
    guidance = is_guidance_form(data)
    problems: list[tuple[str, str]] = []
    if guidance:  # the newest AWS guidance's form: read as ours, its refused keys named as written
        translation = translate(data)
        data, problems = translation.document, translation.problems
    ours = _context_problems(
        data, file_name=file_name, deployment_bucket=deployment_bucket, instance_types=instance_types
    )
    spec: JobSpec | None = None
    try:
        spec = JobSpec.model_validate(dict(data))
    except ValidationError as exc:
        ours.extend(_model_problems(exc))
    ours.extend(_grant_problems(data, prefixes))
    if spec is not None:
        ours.extend(_cross_field_problems(spec))
    problems.extend((guidance_path(path), message) if guidance else (path, message) for path, message in ours)
    if problems:
        raise JobSpecError(problems)
    assert spec is not None
    spec._guidance_form = guidance
    return spec


def _model_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors():
        loc = alias_path(tuple(error["loc"]))
        # A Literal mismatch lists each allowed value; tagged unions add the tag to loc.
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = _unknown_key_message(loc)
        elif error["type"] == "missing":
            message = "required"
        elif error["type"] == "string_type":
            message = f"expected a string, got {json_text(error['input'])}"
        elif error["type"] == "model_type":  # a section given as a string, number or array
            message = f"expected a JSON object (the section's keys inside {{...}}), got {json_text(error['input'])}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        elif error["type"] == "literal_error":
            message += _letter_case_hint(error)
        problems.append((json_path(loc), message))
    return problems


def _letter_case_hint(error: Any) -> str:
    """A choice written in another letter case ("Splatfacto"): the spelling to write, since choices are
    compared exactly (a list of seven choices hides that only the case was wrong)."""
    given = error.get("input")
    if not isinstance(given, str):
        return ""
    choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
    same = [c for c in choices if c.casefold() == given.strip().casefold() and c != given]
    return f"; letter case matters: write {same[0]!r}, not {given!r}" if same else ""


def load_job(path: str | Path, **kwargs: Any) -> JobSpec:
    """Read and validate a job file; its name is checked against the uuid."""
    path = Path(path)
    return parse_job(path.read_bytes(), file_name=path.name, **kwargs)
