"""A choice written in another letter case (`"Splatfacto"`, `"Exhaustive"`) is refused, as every choice is
compared exactly, and the record and notice say which spelling to write, not only the list of choices."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from gs_testkit import job_json
from intake_drops import Drops


def test_a_choice_in_another_letter_case_is_refused_naming_the_spelling_to_write(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    drops = Drops.local(tmp_path, instance)
    drops.put("media-input/m.zip", b"PK\x03\x04" + bytes(60))
    options = {"training.model": "Splatfacto-MCMC", "sfm.matchingMethod": "Exhaustive"}
    drops.put("workflow-input/cased.json", json.dumps(job_json("cased", drops.bucket_name, "m.zip", **options)))

    assert drops.tick().run_requests == []
    record = drops.records()["cased"]
    assert record.status == "FAILED" and record.failed_at == "intake"
    assert "training.model: Input should be 'splatfacto'," in record.error
    assert "letter case matters: write 'splatfacto-mcmc', not 'Splatfacto-MCMC'" in record.error
    assert "sfm.matchingMethod: Input should be 'sequential'" in record.error
    assert "letter case matters: write 'exhaustive', not 'Exhaustive'" in record.error
    (notice,) = drops.new_notices()
    assert "write 'splatfacto-mcmc', not 'Splatfacto-MCMC'" in notice["text"]
