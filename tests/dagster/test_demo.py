"""The README's main-job command from a clean clone: `python -m gs_dagster.demo` (what `make demo` runs after
setting up) reconstructs the demo gallery through Dagster on the embedded default, prints where the
.ply/.spz landed and where to look at them, and the .spz it produced reads back. The slow test runs the demo
as shipped (its own step count) and holds it to issue #21's bar: >= 25 dB held out, in its time on this machine.

The clone reuses this checkout's virtual environment (set up by `make test`) instead of installing a
second one, and the CPU kernels `make setup` compiled for the same source (GS_NATIVE_BUILD_DIR, native.py:
a clone whose kernel source differs compiles its own); PYTHONPATH points the imports at the clone, so the code
under test is the committed code.

The clone's sample cache holds the demo gallery already (the `demo_sample` fixture, rendered once for this and
test_demo_scene.py), as a second `make demo` finds it: the cache is keyed by the rendering code, so a clone whose
gallery code differs from this checkout's renders its own. That the same spec always renders the same bytes is
test_demo_scene.py's first test."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gs_dagster.config import GsConfig, project_dir
from gs_dagster.demo import sample_path
from gs_stages.export.spz import read_spz
from gs_stages.splat import native


def run_demo_in_clone(
    tmp_path: Path, *args: str, sample: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(project_dir()), str(clone)], check=True)
    if sample is not None:  # where the clone's demo looks for its cached gallery (named by this checkout's code)
        cached = sample_path(GsConfig.from_env({"GS_DATA_DIR": str(clone / ".gs-data")}))
        cached.parent.mkdir(parents=True)
        shutil.copyfile(sample, cached)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(clone), str(clone / "container")])
    env["GS_NATIVE_BUILD_DIR"] = str(native.BUILD_DIR)
    result = subprocess.run(
        [sys.executable, "-m", "gs_dagster.demo", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return result, clone


def test_demo_from_a_clean_clone(tmp_path: Path, demo_sample: Path) -> None:
    result, clone = run_demo_in_clone(tmp_path, "--max-steps", "30", sample=demo_sample)
    assert f"DAGSTER_HOME={clone / '.dagster_home'}" in result.stdout  # persistent, inside the clone
    spz = Path(re.search(r"\.spz -> (\S+)", result.stdout).group(1))
    ply = Path(re.search(r"\.ply -> (\S+)", result.stdout).group(1))
    assert spz.is_file() and ply.is_file() and clone in spz.parents
    assert spz.parent == clone / ".gs-data" / "bucket" / "workflow-output" / spz.stem
    assert len(read_spz(spz)) > 0
    preview = Path(re.search(r"photo \| splat side by side: (\S+)", result.stdout).group(1))
    assert preview.is_file() and clone in preview.parents
    assert f"gs-dagster view {spz.stem}" in result.stdout
    print("\n" + result.stdout[-1500:])


@pytest.mark.slow
@pytest.mark.acceptance
def test_demo_reaches_25_db_held_out(tmp_path: Path) -> None:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    result, _ = run_demo_in_clone(tmp_path)
    seconds, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert re.search(r"^job \S+: COMPLETE in ", result.stdout, re.MULTILINE), result.stdout[-3000:]
    psnr = float(re.search(r"held-out PSNR: ([\d.]+) dB", result.stdout).group(1))
    print(f"\ndemo: {seconds:.0f} s wall (clone included), {cpu:.0f} s CPU (user+sys), held-out PSNR {psnr:.2f} dB")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    assert psnr >= 25.0, result.stdout[-3000:]
