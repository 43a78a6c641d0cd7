"""Error text has a bound (issue 15, classes 2 and 3), in AWS mode on the moto server over HTTP: a job
file with 25,000 problems and a 300 KB key ends in one FAILED DynamoDB record and one SNS notice that
say how much they left out; the notifier sends any notice within SNS's limits."""

from __future__ import annotations

import json

import dagster as dg
from gs_testkit import AwsSandbox, job_json, runner_for

from gs_dagster.resources.notifier import Notice, NotifierResource


def _sns_safe(subject: str) -> bool:
    return len(subject) <= 100 and subject.isascii() and "\n" not in subject and subject.isprintable()


def test_a_job_file_with_25000_problems_and_a_300kb_key_gets_one_record_and_one_notice(
    aws: AwsSandbox, instance: dg.DagsterInstance
) -> None:
    document = job_json("many", aws.bucket, "scan.zip")
    document.update({f"k{i}": i for i in range(25_000)})
    document["x" * 300_000] = 1
    body = json.dumps(document)
    assert 600_000 < len(body) < 1024 * 1024  # under the intake's 1 MB cap for a job file
    aws.put("media-input/scan.zip", b"PK\x05\x06" + b"\0" * 18)
    aws.put("workflow-input/many.json", body)

    runner = runner_for(aws.config(), instance)
    assert runner.intake_tick().run_requests == []
    record = aws.record("many")
    assert record["status"] == "FAILED" and record["failed_at"] == "intake"
    assert len(json.dumps(record, default=str).encode()) < 100_000  # far below DynamoDB's 400 KB item
    assert record["error"].startswith("invalid job JSON (25001 problems):")
    assert record["error"].endswith("more problems")
    (notice,) = aws.notices()
    assert notice["attributes"] == {"uuid": "many", "event": "FAILED"}
    assert _sns_safe(notice["subject"]) and "many" in notice["subject"]
    lines = notice["text"].splitlines()
    assert any(line.startswith("... and 24,9") and line.endswith("more problems") for line in lines)
    assert any("characters left out" in line for line in lines) or "x" * 1000 not in notice["text"]
    assert len(notice["text"].encode()) < 20_000

    assert runner.intake_tick().run_requests == [] and aws.notices() == []  # handled once, not every tick


def test_sns_takes_any_notice(aws: AwsSandbox) -> None:
    notifier = NotifierResource(target=aws.topic_arn, endpoint_url=aws.endpoint, region="us-east-1")
    text = "first line\n" + "é" * 400_000 + "\nlast line"  # 800 KB of UTF-8
    subject = "gs-dagster: job ünïcode\nwith a line break " + "s" * 300
    notifier.notify(Notice(uuid="big", event="FAILED", subject=subject, text=text))
    (notice,) = aws.notices()
    assert _sns_safe(notice["subject"]) and notice["subject"].startswith("gs-dagster: job ?n?code with a line")
    assert notice["subject"].endswith("...")
    assert len(notice["text"].encode()) <= 256 * 1024
    assert notice["text"].startswith("first line\n") and "characters left out" in notice["text"]
    assert notice["text"].endswith("\nlast line")  # the long line is cut, the lines after it kept
