"""Where `gs-dagster view` answers, so other places (the spz materialization in the Dagster UI) can link
to a job's viewer. `GS_VIEWER_URL` names it when the viewer runs elsewhere than the default port."""

from __future__ import annotations

import os
from urllib.parse import quote

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 3100


def viewer_root() -> str:
    return (os.environ.get("GS_VIEWER_URL") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}").rstrip("/")


def job_view_url(uuid: str, root: str | None = None) -> str:
    """The page that shows one job's splat (served by `gs-dagster view`)."""
    return f"{(root or viewer_root()).rstrip('/')}/view.html?job={quote(uuid)}"
