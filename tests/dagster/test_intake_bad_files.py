"""Whatever is wrong with a job file, it ends in exactly one FAILED record (failed_at=intake) and one notice
that says what to fix, and no tick retries it: dropped into the local bucket folder and into S3 on the moto
server, taken in by the real `job_intake` sensor. A fuzz test (hypothesis) drops arbitrary files."""

from __future__ import annotations

import json
import os
import time
import unicodedata
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from gs_testkit import AwsSandbox, job_json
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from intake_drops import Drops

from gs_dagster.resources.storage import LocalStore, S3Store
from gs_dagster.sensors.intake import job_uuid_of

MEDIA = "m.zip"
ZIP_HEAD = b"PK\x03\x04" + bytes(60)  # what intake reads of a .zip: its first bytes say it is one


def _valid(drops: Drops, uuid: str, **options: Any) -> bytes:
    return json.dumps(job_json(uuid, drops.bucket_name, MEDIA, **options)).encode()


#: name -> (file name, body of the job file given the drops, words the record's error must hold)
CASES: dict[str, tuple[str | bytes, Callable[[Drops], bytes], list[str]]] = {
    "nested 100,000 deep": ("deep.json", lambda d: b"[" * 100_000 + b"]" * 100_000, ["nested too deeply"]),
    "objects nested deep": ("deep2.json", lambda d: b'{"a":' * 100_000 + b"1" + b"}" * 100_000, ["nested too"]),
    "a non-UTF-8 byte": ("latin.json", lambda d: _valid(d, "latin").replace(b"info", b"inf\xf6"), ["not UTF-8"]),
    "inputPrefix leaving the bucket": (
        "escape.json",
        lambda d: _valid(d, "escape", **{"s3.inputPrefix": "../../etc"}),
        ["s3.inputPrefix", "'..' folder"],
    ),
    "a 300-character inputKey": (
        "longkey.json",
        lambda d: _valid(d, "longkey", **{"s3.inputKey": "k" * 296 + ".zip"}),
        ["s3.inputKey", "at most 255 bytes"],
    ),
    "a hidden file": (".x.json", lambda d: _valid(d, "x"), ["must equal the file's base name '.x'", "rename the"]),
    "a file named .json": (".json", lambda d: _valid(d, "x"), ["must equal the file's base name"]),
    "an empty file": ("empty.json", lambda d: b"", ["the job file is empty"]),
    "blank": ("blank.json", lambda d: b" \n\t ", ["the job file is empty"]),
    "a JSON array": ("array.json", lambda d: b"[1, 2]", ["a job is a JSON object, got an array"]),
    "a JSON string": ("string.json", lambda d: b'"job"', ["got a string"]),
    "50 MB": ("huge.json", lambda d: b" " * (50 * 1024 * 1024), ["52,428,800 bytes", "at most 1,048,576"]),
    "a uuid that is not valid": (
        "not valid!.json",
        lambda d: _valid(d, "not valid!"),
        ["uuid must be letters, digits and hyphens"],
    ),
    "a key with odd characters": ("wé ird\tname.json", lambda d: _valid(d, "x"), ["must equal the file's base"]),
    "a lone surrogate in inputKey": (
        "surrogate.json",
        lambda d: _valid(d, "surrogate").replace(MEDIA.encode(), b"\\ud800.zip"),
        ["s3.inputKey", "unable to parse raw data as a unicode string"],
    ),
    "a NUL in inputPrefix": (
        "nul.json",
        lambda d: _valid(d, "nul", **{"s3.inputPrefix": "media\u0000input"}),
        ["s3.inputPrefix", "control characters"],
    ),
    "a 1,200-character outputPrefix": (
        "longout.json",
        lambda d: _valid(d, "longout", **{"s3.outputPrefix": "out/" * 300}),
        ["s3.outputPrefix", "at most 922 bytes", "1024-byte key limit"],
    ),
    "a 300-character outputPrefix": (
        "longname.json",
        lambda d: _valid(d, "longname", **{"s3.outputPrefix": "o" * 300}),
        ["s3.outputPrefix", "folder name of 300 bytes", "at most 255 bytes"],
    ),
}


@pytest.fixture(params=["local", "moto"])
def drops(request: pytest.FixtureRequest, tmp_path: Path, instance: dg.DagsterInstance) -> Drops:
    if request.param == "local":
        return Drops.local(tmp_path, instance)
    return Drops.moto(request.getfixturevalue("aws"), instance)


def _expect_one_refusal(drops: Drops, uuid: str, words: list[str]) -> None:
    record = drops.records().get(uuid)
    assert record is not None, (uuid, sorted(drops.records()))
    assert record.status == "FAILED" and record.failed_at == "intake", record
    for word in words:
        assert word in record.error, (word, record.error[:2000])
    notices = [n for n in drops.notices if n["uuid"] == uuid]
    assert [n["event"] for n in notices] == ["FAILED"], notices
    assert words[-1] in notices[0]["text"]


@pytest.mark.parametrize("case", list(CASES))
def test_every_bad_job_file_ends_in_one_failed_record_and_one_notice(drops: Drops, case: str) -> None:
    name, body, words = CASES[case]
    drops.put(f"media-input/{MEDIA}", ZIP_HEAD)
    drops.put(f"workflow-input/{name}", body(drops))

    first = drops.tick()
    drops.new_notices()
    assert first.run_requests == [] and drops.retried() == {}
    _expect_one_refusal(drops, job_uuid_of(str(name)), words)

    second = drops.tick()  # handled: nothing again, no retry
    assert second.run_requests == [] and drops.new_notices() == [] and drops.retried() == {}


def test_a_local_file_name_that_is_not_utf8_gets_a_record(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    drops = Drops.local(tmp_path, instance)
    drops.put(b"workflow-input/caf\xe9.json", _valid(drops, "cafe"))
    drops.tick()
    drops.new_notices()
    _expect_one_refusal(drops, "caf\\xe9", ["must equal the file's base name 'caf\\\\xe9'"])
    assert drops.tick().run_requests == [] and drops.new_notices() == [] and drops.retried() == {}


def test_a_job_file_that_vanishes_between_list_and_read_is_refused_once(
    drops: Drops, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user deletes the job file while a tick is on it: the read finds nothing, the job ends FAILED with
    one notice saying so, and a later upload of the same name is taken in as a corrected one."""
    store_type = S3Store if drops.aws else LocalStore
    real_read = store_type.read_bytes

    def read_after_delete(store: Any, key: str) -> bytes:
        drops.delete(key)
        return real_read(store, key)

    drops.put(f"media-input/{MEDIA}", ZIP_HEAD)
    drops.put("workflow-input/gone.json", _valid(drops, "gone"))
    with monkeypatch.context() as patch:
        patch.setattr(store_type, "read_bytes", read_after_delete)
        assert drops.tick().run_requests == []
    drops.new_notices()
    _expect_one_refusal(drops, "gone", ["removed before intake could read it"])

    time.sleep(1.1)  # S3 lists times to the second: the same bytes a second later are a new upload
    drops.put("workflow-input/gone.json", _valid(drops, "gone"))  # uploaded again: it never ran, so it runs
    assert [r.run_key for r in drops.tick().run_requests] == ["gone"]
    assert drops.records()["gone"].status == "SUBMITTED"


def test_a_fault_nobody_foresaw_is_retried_then_refused_not_retried_for_ever(
    drops: Drops, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handling that raises is retried on the next ticks (a network blip passes) and, after max_attempts
    ticks in a row, ends in one FAILED record naming the error; the other files of the tick are unaffected."""
    from gs_dagster.sensors import intake_rules

    real_parse = intake_rules.parse_job

    def parse(text: bytes, **kwargs: Any) -> Any:
        if b"cursed" in text:
            raise KeyError("a fault in the parser")
        return real_parse(text, **kwargs)

    monkeypatch.setattr(intake_rules, "parse_job", parse)  # where the intake reads a job file
    drops.put(f"media-input/{MEDIA}", ZIP_HEAD)
    drops.put("workflow-input/cursed.json", _valid(drops, "cursed"))
    drops.put("workflow-input/fine.json", _valid(drops, "fine"))

    assert [r.run_key for r in drops.tick().run_requests] == ["fine"]
    assert list(drops.retried()) == ["workflow-input/cursed.json"] and "cursed" not in drops.records()
    drops.tick()
    assert drops.new_notices() == []
    drops.tick()  # the third attempt (max_attempts=3) gives up with a record and a notice
    drops.new_notices()
    _expect_one_refusal(drops, "cursed", ["3 attempts", "KeyError", "a fault in the parser"])
    assert drops.retried() == {}
    drops.tick()
    assert drops.new_notices() == [] and drops.retried() == {}


# -- fuzzing ------------------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_paths = st.sampled_from(
    [
        "uuid",
        "instanceType",
        "s3.bucketName",
        "s3.inputPrefix",
        "s3.inputKey",
        "s3.outputPrefix",
        "training.maxSteps",
        "training.model",
        "sfm.enable",
        "segmentation.maskThreshold",
        "sphericalCamera.cubeFacesToRemove",
        "videoProcessing",
        "extra",
    ]
)
_prefix_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40) | st.sampled_from(
    ["..", "../..", "a/../b", "a//b", "./x", "\\x", "x" * 1100, "é" * 500, "media-input/ok"]
)


@st.composite
def job_files(draw: st.DrawFn, bucket: str) -> tuple[str, bytes]:
    """(uuid part of the file name, body): a valid job with changed values, random JSON, or random bytes."""
    uuid = draw(
        st.sampled_from(["job-1", "Job-2", ".hidden", "a b", "x" * 40, "ü-é", "-lead", "tail-"])
        | st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=20)
    )
    kind = draw(st.sampled_from(["valid-changed", "random-json", "random-bytes"]))
    if kind == "random-bytes":
        return uuid, draw(st.binary(max_size=300))
    if kind == "random-json":
        return uuid, json.dumps(draw(_json_values)).encode()
    document = job_json(uuid, bucket, MEDIA)
    for path in draw(st.lists(_paths, max_size=3)):
        node = document
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = draw(_prefix_text if "Prefix" in leaf else _json_values)
    return uuid, json.dumps(document).encode()


def _fuzz(make_drops: Callable[[], Drops], data: st.DataObject) -> None:
    drops = make_drops()
    drops.put(f"media-input/{MEDIA}", ZIP_HEAD)
    uuid, body = data.draw(job_files(drops.bucket_name))
    name = f"{uuid}.json"
    if drops.aws is None and len(os.fsencode(name)) > 255:  # a local folder cannot hold the name at all
        return
    # moto's server cannot take a key with a control character in its URL (S3 can): the local folder covers it
    assume(drops.aws is None or not any(unicodedata.category(c) == "Cc" for c in name))
    drops.put(f"workflow-input/{name}", body)

    requested = [r.run_key for r in drops.tick().run_requests]
    drops.new_notices()
    assert drops.retried() == {}, "every job file gets an outcome on its first tick"
    records = drops.records()
    assert len(records) == 1, records
    (record,) = records.values()
    if record.status == "SUBMITTED":  # a valid job: one run, no notice yet
        assert requested == [record.uuid] and drops.notices == []
    else:
        assert record.status == "FAILED" and record.failed_at == "intake" and record.error.strip()
        assert requested == [] and [(n["uuid"], n["event"]) for n in drops.notices] == [(record.uuid, "FAILED")]
    drops.tick()
    assert drops.new_notices() == [] and drops.retried() == {}


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(data=st.data())
def test_fuzzed_job_files_in_the_local_folder(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        _fuzz(lambda: Drops.local(tmp_path_factory.mktemp("fuzz"), instance), data)


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_fuzzed_job_files_in_s3_on_moto(aws: AwsSandbox, data: st.DataObject) -> None:
    table = f"gs-fuzz-{uuidlib.uuid4().hex[:10]}"
    bucket = f"gs-fuzz-{uuidlib.uuid4().hex[:10]}"
    aws.s3.create_bucket(Bucket=bucket)
    sandbox = AwsSandbox(**{**aws.__dict__, "bucket": bucket, "table": table})
    with dg.DagsterInstance.ephemeral() as instance:
        _fuzz(lambda: Drops.moto(sandbox, instance), data)


def test_a_job_whose_problems_overflow_a_dynamodb_item_still_ends_in_one_record(
    aws: AwsSandbox, instance: dg.DagsterInstance
) -> None:
    """25,000 unknown keys: a message of ~2 MB, over DynamoDB's 400 KB item. Whether the text is cut to fit or
    the write fails and intake gives up after max_attempts ticks, the job ends in one FAILED record and one
    notice within those ticks, and is not retried after."""
    drops = Drops.moto(aws, instance)
    document = job_json("many", aws.bucket, MEDIA)
    document.update({f"unknown{number:05d}": 1 for number in range(25_000)})
    drops.put("workflow-input/many.json", json.dumps(document))
    for _ in range(3):
        drops.tick()
        drops.new_notices()
    record = drops.records()["many"]
    assert record.status == "FAILED" and record.failed_at == "intake" and record.error.strip()
    assert [(n["uuid"], n["event"]) for n in drops.notices] == [("many", "FAILED")]
    drops.tick()
    assert drops.new_notices() == [] and drops.retried() == {}
