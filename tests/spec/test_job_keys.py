"""The keys a job names (gs_stages/s3_keys.py through parse_job): prefixes stay inside the bucket, every key
fits S3's 1,024 bytes and every folder or file name a file system's 255, prefixes outside the deployment's
grants are refused with the setting that grants them; docs/JOB_JSON.md states the same limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from gs_stages.jobspec import JobSpecError, parse_job
from gs_stages.s3_keys import INPUT_PREFIX_MAX_BYTES, OUTPUT_PREFIX_MAX_BYTES, PrefixGrants

DOC = Path(__file__).resolve().parents[2] / "docs" / "JOB_JSON.md"


def _problems(grants: PrefixGrants | None = None, **s3: str) -> list[tuple[str, str]]:
    document = {"uuid": "job-1", "s3": {"bucketName": "bucket", "inputKey": "a.zip", **s3}}
    try:
        parse_job(document, prefixes=grants)
    except JobSpecError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(
    "prefix",
    ["", "media-input", "/media-input/", "a/b/c", "é" * 100, "x" * 255, "dots.in.names", "a/" * 300 + "b"],
)
def test_prefixes_inside_the_bucket_are_accepted(prefix: str) -> None:
    assert _problems(inputPrefix=prefix[:INPUT_PREFIX_MAX_BYTES]) == []


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("..", "'..' folder"),
        ("a/../../b", "'..' folder"),
        ("./a", "'.' or '..'"),
        ("a//b", "empty folder name"),
        ("a\\b", "backslash"),
        ("a\nb", "control characters"),
        ("x" * 256, "folder name of 256 bytes"),
        ("é" * 128, "folder name of 256 bytes"),
        ("ab/" * 310, f"at most {OUTPUT_PREFIX_MAX_BYTES} bytes"),
    ],
)
def test_prefixes_that_leave_the_bucket_or_overflow_a_key_are_refused(prefix: str, words: str) -> None:
    (problem,) = _problems(outputPrefix=prefix)
    assert problem[0] == "s3.outputPrefix" and words in problem[1], problem


def test_an_input_prefix_leaves_room_for_the_longest_file_name() -> None:
    (problem,) = _problems(inputPrefix="ab/" * 256 + "c")  # 769 bytes
    assert problem[0] == "s3.inputPrefix" and f"at most {INPUT_PREFIX_MAX_BYTES} bytes" in problem[1]
    assert _problems(inputPrefix="ab/" * 255 + "c", inputKey="k" * 251 + ".zip") == []  # 766 + 1 + 255 bytes


def test_prefixes_outside_the_grants_are_refused_with_the_setting_that_grants_them() -> None:
    grants = PrefixGrants.parse("media-input, uploads/", "workflow-output")
    assert _problems(grants, inputPrefix="uploads/team-a", outputPrefix="workflow-output/x") == []
    problems = dict(_problems(grants, inputPrefix="media-input-2", outputPrefix="workflow"))
    assert (
        "'media-input' or 'uploads'" in problems["s3.inputPrefix"] and "GS_MEDIA_PREFIXES" in problems["s3.inputPrefix"]
    )
    assert "GS_OUTPUT_PREFIXES" in problems["s3.outputPrefix"]
    assert _problems(PrefixGrants(), inputPrefix="anything", outputPrefix="at/all") == []  # no grants: any


def test_the_doc_states_the_limits() -> None:
    text = DOC.read_text()
    for number in (INPUT_PREFIX_MAX_BYTES, OUTPUT_PREFIX_MAX_BYTES, 255, "1,024"):
        assert f"{number} bytes" in text, number
    assert "GS_MEDIA_PREFIXES" in text and "GS_OUTPUT_PREFIXES" in text
