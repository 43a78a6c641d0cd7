"""The local HTTP server of `gs-dagster view`: the library page, the viewer, job data and job files.

Standard library only (one user on 127.0.0.1, a handful of requests): our pages from `web/`, the
renderer's ES modules from `web/node_modules` (installed by `make viewer`, never a CDN), the library
as JSON, and a job's files streamed from the bucket or storage (local or S3).
"""

from __future__ import annotations

import json
import mimetypes
import shutil
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from gs_dagster.viewer.library import Library

WEB_DIR = Path(__file__).resolve().parent / "web"
NODE_MODULES = WEB_DIR / "node_modules"
#: The npm packages the pages import (web/package.json); nothing else under node_modules is served.
VENDOR_PACKAGES = ("three", "@sparkjsdev/spark")
PAGES = ("index.html", "view.html", "library.js", "viewer.js", "style.css")
TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".spz": "application/octet-stream",
}
CHUNK = 1 << 20


def renderer_missing() -> str | None:
    """Why the renderer cannot be served (not installed), or None when it can."""
    absent = [p for p in VENDOR_PACKAGES if not (NODE_MODULES / p / "package.json").is_file()]
    if absent:
        return f"the viewer's npm packages are not installed ({', '.join(absent)}): run `make viewer`"
    return None


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


class ViewerHandler(BaseHTTPRequestHandler):
    """GET only; every path outside the routes below is a 404."""

    library: Library  # set on the subclass `make_server` builds
    server_version = "gs-dagster-view"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one user; errors reach the page

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        query = urlsplit(self.path).query
        try:
            if path in ("/", "/index.html"):
                self._send_file(WEB_DIR / "index.html")
            elif path.lstrip("/") in PAGES:
                self._send_file(WEB_DIR / path.lstrip("/"))
            elif path.startswith("/vendor/"):
                self._send_vendor(path[len("/vendor/") :])
            elif path == "/api/jobs":
                self._send_json(self.library.jobs())
            elif path.startswith("/api/jobs/"):
                job = self.library.job(path[len("/api/jobs/") :])
                self._send_json(job) if job else self._error(HTTPStatus.NOT_FOUND, "no such job")
            elif path.startswith("/files/") and path.count("/") == 3:
                _, _, uuid, name = path.split("/")
                self._send_job_file(uuid, name, download="download=1" in query)
            else:
                self._error(HTTPStatus.NOT_FOUND, f"nothing at {path}")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away

    def _send_vendor(self, rest: str) -> None:
        target = (NODE_MODULES / rest).resolve()
        allowed = any(target.is_relative_to((NODE_MODULES / p).resolve()) for p in VENDOR_PACKAGES)
        if not allowed or not target.is_file():
            self._error(HTTPStatus.NOT_FOUND, renderer_missing() or f"no {rest} in the viewer's packages")
            return
        self._send_file(target)

    def _send_job_file(self, uuid: str, name: str, download: bool) -> None:
        item = self.library.file(uuid, name)
        if item is None:
            self._error(HTTPStatus.NOT_FOUND, f"job {uuid} has no file {name}")
            return
        local = item.store.local_path(item.key)
        if local is not None:
            self._send_file(local, download_name=name if download else None)
            return
        body = item.store.client.get_object(**item.s3_object())
        self._headers(content_type(name), body["ContentLength"], name if download else None)
        shutil.copyfileobj(body["Body"], self.wfile, CHUNK)

    def _send_file(self, path: Path, download_name: str | None = None) -> None:
        if not path.is_file():
            self._error(HTTPStatus.NOT_FOUND, f"{path.name} is missing")
            return
        self._headers(content_type(path.name), path.stat().st_size, download_name)
        with path.open("rb") as handle:
            shutil.copyfileobj(handle, self.wfile, CHUNK)

    def _headers(self, kind: str, length: int, download_name: str | None) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        if download_name:
            self.send_header("Content-Disposition", f'attachment; filename="{download_name}"')
        self.end_headers()

    def _send_json(self, data: Any) -> None:
        body = json.dumps(data).encode()
        self._headers("application/json", len(body), None)
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def make_server(library: Library, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to host:port (0 picks a free port; read it from `server_address`)."""
    handler = type("BoundViewerHandler", (ViewerHandler,), {"library": library})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
