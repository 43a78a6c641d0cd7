"""`gs-dagster view [UUID]`: start the viewer's server and print where to open it."""

from __future__ import annotations

import sqlite3
import sys

from gs_dagster.config import GsConfig
from gs_dagster.viewer.library import Library
from gs_dagster.viewer.links import job_view_url
from gs_dagster.viewer.server import make_server, renderer_missing


def serve(config: GsConfig, uuid: str | None, host: str, port: int) -> int:
    """Serve until interrupted; exit 2 when it cannot start (what to fix is printed), 1 for an unknown job."""
    missing = renderer_missing()
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    try:
        library = Library.open(config)
    except (ValueError, OSError, sqlite3.Error) as exc:
        print(f"error: cannot open the job table or the bucket: {exc}", file=sys.stderr)
        return 2
    if uuid and library.table.get(uuid) is None:
        print(f"no job {uuid!r} in {config.job_table}", file=sys.stderr)
        return 1
    try:
        server = make_server(library, host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc} (try --port 0)", file=sys.stderr)
        return 2
    root = f"http://{host}:{server.server_address[1]}"
    print(job_view_url(uuid, root) if uuid else f"{root}/", flush=True)
    print(f"job library: {root}/  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
