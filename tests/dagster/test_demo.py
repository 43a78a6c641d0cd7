"""The README's main-job command from a clean clone: `python -m gs_dagster.demo` (what `make demo` runs after
setting up) reconstructs the synthetic sample through Dagster on the embedded default, prints where the
.ply/.spz landed, and the .spz it produced reads back.

The clone reuses this checkout's virtual environment (set up by `make test`) instead of installing a
second one; PYTHONPATH points the imports at the clone, so the code under test is the committed code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from gs_dagster.config import project_dir
from gs_stages.export.spz import read_spz


def test_demo_from_a_clean_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(project_dir()), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(clone), str(clone / "container")])
    result = subprocess.run(
        [sys.executable, "-m", "gs_dagster.demo", "--max-steps", "30"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert f"DAGSTER_HOME={clone / '.dagster_home'}" in result.stdout  # persistent, inside the clone
    spz = Path(re.search(r"\.spz -> (\S+)", result.stdout).group(1))
    ply = Path(re.search(r"\.ply -> (\S+)", result.stdout).group(1))
    assert spz.is_file() and ply.is_file() and clone in spz.parents
    assert spz.parent == clone / ".gs-data" / "bucket" / "workflow-output" / spz.stem
    assert len(read_spz(spz)) > 0
    print("\n" + result.stdout[-1500:])
