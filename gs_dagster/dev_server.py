"""`gs-dagster ui`: `dagster dev` on the project's workspace, quiet and stoppable.

What it fixes in plain `dagster dev`:

- SIGTERM: `dagster dev` maps SIGTERM to whatever SIGINT does. A shell that starts a command in the
  background without job control (`gs-dagster ui &` in a script, nohup, many service managers) starts
  it with SIGINT ignored, so SIGTERM was ignored too and the UI could only be killed. SIGINT is reset to
  its default before `dagster dev` starts, so SIGTERM (and Ctrl-C) shut the webserver, daemon and code
  server down cleanly.
- The notice that the checkout's dagster.yaml is not the instance's: `dagster dev` runs in
  DAGSTER_HOME (the workspace file is named by its absolute path, so the code location still loads
  from the checkout).
- The notice that `dagster dev` is superseded by `dg dev` (the `dg` CLI is not part of this project).
- A log line per sensor per tick: the daemon and webserver log at `log_level` (default warning).
  Runs, the intake sensor's findings and notices still print: they log only when something happens.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from gs_dagster.config import ensure_dagster_home, project_dir
from gs_dagster.dagster_notices import with_cli_filters


def dagster_dev_command(*, host: str, port: int, log_level: str) -> list[str]:
    """The `dagster dev` command line for the project's workspace (or its module, without workspace.yaml)."""
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster) if dagster.exists() else "dagster", "dev", "-p", str(port), "-h", host]
    command += ["--log-level", log_level]
    workspace = project_dir() / "workspace.yaml"
    if workspace.is_file():
        return [*command, "-w", str(workspace)]
    return [*command, "-m", "gs_dagster.definitions", "-d", str(project_dir())]


def exec_dagster_dev(*, host: str, port: int, log_level: str) -> int:
    """Replace this process by `dagster dev` (so the PID a caller holds is the one to signal)."""
    home = ensure_dagster_home()
    command = dagster_dev_command(host=host, port=port, log_level=log_level)
    print(f"DAGSTER_HOME={home}", file=sys.stderr)
    print(f"starting the UI on http://{host}:{port} (sensors on); Ctrl-C or SIGTERM stops it", file=sys.stderr)
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # an ignored SIGINT would make dagster dev ignore SIGTERM
    os.chdir(home)
    os.execvpe(command[0], command, with_cli_filters(dict(os.environ)))
    return 0  # pragma: no cover
