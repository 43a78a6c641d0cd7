"""Loading the code location and launching a stage print no warning: not the Pipes preview notice Dagster
raises on every launch, not the CLI's notices about itself (`dagster definitions validate`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gs_dagster.dagster_notices import with_cli_filters

PROJECT = Path(__file__).resolve().parents[2]

#: Loads the code location, then opens a Pipes session as every launch does, with every warning shown.
LAUNCH = """
import dagster as dg
import gs_dagster.definitions

@dg.asset
def probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    with dg.open_pipes_session(
        context=context,
        context_injector=dg.PipesEnvContextInjector(),
        message_reader=dg.PipesTempFileMessageReader(),
    ) as session:
        assert session.get_bootstrap_env_vars()
    return dg.MaterializeResult()

assert dg.materialize([probe]).success
print("loaded")
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_", "PYTHONWARNINGS"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    return {**env, "DAGSTER_HOME": str(home), "GS_DATA_DIR": str(tmp_path / "data")}


def _launch(tmp_path: Path, script: str) -> str:
    """Run `script` with Python's default warning filters (what the run worker has); its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", script], env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "loaded", done.stderr
    return done.stderr


def test_code_location_and_a_pipes_launch_warn_nothing(tmp_path: Path) -> None:
    # Without the code location Dagster warns on every launch (if it stops, the filter can go).
    assert "PreviewWarning: Function `PipesMessageReader.expected_writer_count`" in _launch(
        tmp_path, LAUNCH.replace("import gs_dagster.definitions", "")
    )
    stderr = _launch(tmp_path, LAUNCH)
    assert "Warning:" not in stderr, stderr


def test_definitions_validate_prints_no_warning(tmp_path: Path) -> None:
    env = _env(tmp_path)
    command = [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w"]
    command.append(str(PROJECT / "workspace.yaml"))
    plain = subprocess.run(command, env=env, cwd=env["DAGSTER_HOME"], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    # The code location adds nothing; what is left is the CLI's notice about itself, which gs-dagster filters.
    warnings = [line for line in plain.stderr.splitlines() if "Warning" in line]
    assert all("definitions_validate_command` is superseded" in line for line in warnings), warnings
    quiet = subprocess.run(
        command, env=with_cli_filters(env), cwd=env["DAGSTER_HOME"], capture_output=True, text=True, timeout=120
    )
    assert quiet.returncode == 0 and "Validation successful" in quiet.stderr + quiet.stdout
    assert "Warning" not in quiet.stderr + quiet.stdout, quiet.stderr
