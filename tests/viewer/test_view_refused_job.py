"""A job refused at intake shows in `gs-dagster view`'s library with what to fix (the status cell's tooltip),
not only the error's heading: a job file dropped into the bucket folder, `gs-dagster process` takes it in."""

from __future__ import annotations

import json
import subprocess
import sys

from .test_view_cli import ROOT, _env, get, view


def test_the_library_says_what_to_fix_in_a_refused_job(tmp_path):
    env = {"GS_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home")}
    inbox = tmp_path / "data" / "bucket" / "workflow-input"
    inbox.mkdir(parents=True)
    job = {
        "uuid": "typo",
        "s3": {"bucketName": "gs-local", "inputPrefix": "media-input", "inputKey": "a.zip", "outputPrefix": "out"},
        "training": {"maxSteps": "lots", "model": "Splatfacto"},
    }
    (inbox / "typo.json").write_text(json.dumps(job))
    command = [sys.executable, "-m", "gs_dagster.cli", "process"]
    subprocess.run(command, env=_env(env), cwd=ROOT, check=True, capture_output=True, timeout=300)

    with view(env) as root:
        status, body, _ = get(root.rstrip("/") + "/api/jobs")
    (entry,) = json.loads(body)
    assert (status, entry["uuid"], entry["status"]) == (200, "typo", "FAILED")
    assert entry["error"].startswith("invalid job JSON (2 problems):\n"), entry["error"]
    assert "training.maxSteps: expected an integer" in entry["error"]
    assert "training.model: Input should be 'splatfacto'" in entry["error"]
