"""How two common mistakes in a hand-written job file are worded (found walking through the intake,
session 12): a misspelt key names the key that was probably meant, and a section given as something other
than an object says that, in JSON's words, instead of pydantic's "valid dictionary or instance of Sfm"
(a Python class name a job's author never sees)."""

from __future__ import annotations

import pytest

from gs_stages.job_parse import parse_job
from gs_stages.job_text import JobSpecError

S3 = {"bucketName": "gs-local", "inputKey": "a.zip"}


def _problems(doc: dict) -> dict[str, str]:
    with pytest.raises(JobSpecError) as caught:
        parse_job({"uuid": "a1", "s3": S3, **doc})
    return dict(caught.value.problems)


def test_a_misspelt_key_names_the_key_it_is_closest_to() -> None:
    problems = _problems({"training": {"maxStep": 200}, "sfm": {"matchingMethd": "exhaustive"}})
    assert problems["training.maxStep"] == "unknown key 'maxStep': did you mean 'maxSteps'?"
    assert problems["sfm.matchingMethd"] == "unknown key 'matchingMethd': did you mean 'matchingMethod'?"


def test_a_misspelt_top_level_key_and_one_with_no_close_key() -> None:
    problems = _problems({"trainig": {"maxSteps": 200}, "training": {"colour": "red"}})
    assert problems["trainig"] == "unknown key 'trainig': did you mean 'training'?"
    assert problems["training.colour"] == "unknown key 'colour' (check its spelling against docs/JOB_JSON.md)"


def test_a_section_that_is_not_an_object_says_so_in_json_words() -> None:
    problems = _problems({"sfm": "exhaustive", "training": [200]})
    assert problems["sfm"] == 'expected a JSON object (the section\'s keys inside {...}), got "exhaustive"'
    assert problems["training"] == "expected a JSON object (the section's keys inside {...}), got [200]"
