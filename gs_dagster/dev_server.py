"""`gs-dagster ui`: `dagster dev` on the project's workspace, quiet and stoppable.

What it changes in plain `dagster dev`:

- Stopping. `gs-dagster ui` starts `dagster dev` in a process group of its own and stays as its
  supervisor: SIGTERM, SIGINT (Ctrl-C) or SIGHUP stop `dagster dev` (its webserver and daemon), then
  everything still in that group: the code server and runs in progress (a run worker interrupted this
  way ends its run FAILED, so the job's record and notice say so once the sensors run again), SIGKILL
  after STOP_GRACE_S. Plain `dagster dev` ignored SIGTERM when started in the background by a shell
  without job control (SIGINT ignored, and it maps SIGTERM to SIGINT's handler), and left the code
  server and a running job behind when it did stop.
- The notice that the checkout's dagster.yaml is not the instance's: `dagster dev` runs in
  DAGSTER_HOME (the workspace file is named by its absolute path, so the code location still loads
  from the checkout).
- Previews inline: with a local storage root it serves the stage previews on 127.0.0.1
  (gs_dagster.preview_server) and sets GS_STORAGE_WEB_URL for `dagster dev`, unless it is set already.
- Dagster's notices about itself (gs_dagster.dagster_notices), and a log line per sensor per tick:
  the daemon and webserver log at `log_level` (default warning). Runs, the intake sensor's findings
  and notices still print: they log only when something happens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from gs_dagster.config import GsConfig, ensure_dagster_home, project_dir
from gs_dagster.dagster_notices import with_cli_filters

#: Seconds the code server and runs in progress get to stop after `dagster dev` has, before SIGKILL.
STOP_GRACE_S = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def dagster_dev_command(*, host: str, port: int, log_level: str) -> list[str]:
    """The `dagster dev` command line for the project's workspace (or its module, without workspace.yaml)."""
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster) if dagster.exists() else "dagster", "dev", "-p", str(port), "-h", host]
    command += ["--log-level", log_level]
    workspace = project_dir() / "workspace.yaml"
    if workspace.is_file():
        return [*command, "-w", str(workspace)]
    return [*command, "-m", "gs_dagster.definitions", "-d", str(project_dir())]


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (Linux /proc; elsewhere: none known)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            state, _, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def stop_group(pgid: int, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every process left in the group, SIGKILL what is still there after `grace_s`."""
    if not group_members(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if group_members(pgid):
        print(f"gs-dagster ui: killing what did not stop in {grace_s:.0f} s", file=sys.stderr)
        _signal_group(pgid, signal.SIGKILL)


def with_preview_server(env: dict[str, str]) -> dict[str, str]:
    """`env` with GS_STORAGE_WEB_URL pointing at a preview server of the local storage root just started
    (gs_dagster.preview_server); as it is when that is set already or the storage is S3."""
    from gs_dagster.preview_server import server_url, start_preview_server

    if env.get("GS_STORAGE_WEB_URL"):
        return env
    try:
        root = GsConfig.from_env(env).storage_root
    except ValueError:  # a configuration problem: the code location reports it in the UI
        return env
    if "://" in root:
        return env
    server = start_preview_server(Path(root).expanduser())
    return {**env, "GS_STORAGE_WEB_URL": server_url(server)}


def with_ui_url(env: dict[str, str], host: str, port: int) -> dict[str, str]:
    """`env` with GS_DAGSTER_URL naming this UI (the links in notices and materializations), unless it is set:
    a UI started on another port than 3000 is the one its own notices should open."""
    if env.get("GS_DAGSTER_URL"):
        return env
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return {**env, "GS_DAGSTER_URL": f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"}


def run_dagster_dev(*, host: str, port: int, log_level: str) -> int:
    """Run `dagster dev` until it exits or a stop signal arrives; then leave nothing of it running."""
    home = ensure_dagster_home()
    command = dagster_dev_command(host=host, port=port, log_level=log_level)
    print(f"DAGSTER_HOME={home}", file=sys.stderr)
    print(f"starting the UI on http://{host}:{port} (sensors on); Ctrl-C or SIGTERM stops it", file=sys.stderr)
    stopping: list[int] = []
    started: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not stopping:
            print(f"gs-dagster ui: {signal.Signals(signum).name} received, stopping", file=sys.stderr)
            for dev in started:
                dev.send_signal(signal.SIGTERM)  # dagster dev stops its webserver and daemon on SIGTERM
        stopping.append(signum)

    for signum in STOP_SIGNALS:  # a handler (unlike an ignored signal) is reset to the default in the child
        signal.signal(signum, stop)
    env = with_preview_server(with_cli_filters(with_ui_url(dict(os.environ), host, port)))
    dev = subprocess.Popen(command, cwd=home, env=env, start_new_session=True)
    started.append(dev)
    if stopping:  # the signal came while it was being started
        dev.send_signal(signal.SIGTERM)
    code = dev.wait()
    stop_group(dev.pid)
    return 0 if stopping else code
