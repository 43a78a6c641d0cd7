"""The stage previews of a local storage root over HTTP on 127.0.0.1, so the Dagster UI shows them inline.

The UI puts a markdown entry of 1,000 characters or more behind "[Show Markdown]", and an image inlined as
data is always longer; a browser will not load a file:// image into the UI's page either. A short entry
that links the image by an http URL is shown inline. `gs-dagster ui` starts this server beside
`dagster dev` and sets GS_STORAGE_WEB_URL for it (unless it is set already or the storage is S3), so a
splat's materialization shows its ground-truth | render preview without a click.

Written here rather than with `http.server.SimpleHTTPRequestHandler` serving the folder: only images under
`<stage>/<uuid>/` are served (never metrics, frames or splats), and nothing outside the root.
"""

from __future__ import annotations

import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

#: What the server hands out: the previews the stages write.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
DEFAULT_PORT = 3101


def resolve_image(root: Path, url_path: str) -> Path | None:
    """The image file `url_path` names under `root` (`/<stage>/<uuid>/<name>.png`), or None."""
    parts = [p for p in unquote(urlparse(url_path).path).split("/") if p]
    if len(parts) != 3 or any(p in (".", "..") or p.startswith(".") for p in parts):
        return None
    if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return None
    path = (root / Path(*parts)).resolve()
    if not path.is_file() or not path.is_relative_to(root.resolve()):
        return None
    return path


def _handler(root: Path) -> type[BaseHTTPRequestHandler]:
    class PreviewHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = resolve_image(root, self.path)
            if path is None:
                self.send_error(404, "no such preview")
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: the UI terminal stays readable
            return

    return PreviewHandler


def start_preview_server(root: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """Serve `root`'s previews in a daemon thread; `port` busy: any free port. The URL is `server_url(server)`."""
    try:
        server = ThreadingHTTPServer((host, port), _handler(root))
    except OSError:
        server = ThreadingHTTPServer((host, 0), _handler(root))
    threading.Thread(target=server.serve_forever, name="gs-preview-server", daemon=True).start()
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
