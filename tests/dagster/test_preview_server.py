"""The preview server `gs-dagster ui` starts: a splat's preview reaches the UI by a short http link."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gs_dagster.dev_server import with_preview_server
from gs_dagster.preview_server import resolve_image, server_url, start_preview_server

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""


@pytest.fixture()
def storage(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    (root / "splat" / "job-1").mkdir(parents=True)
    (root / "splat" / "job-1" / "preview.png").write_bytes(PNG)
    (root / "splat" / "job-1" / "splat.ply").write_bytes(b"ply\n")
    (root / "splat" / "job-1" / "metrics.json").write_text("{}")
    (tmp_path / "secret.png").write_bytes(PNG)
    return root


def test_serves_a_stage_preview_and_nothing_else(storage: Path) -> None:
    server = start_preview_server(storage, port=0)
    try:
        base = server_url(server)
        status, body, kind = _get(f"{base}/splat/job-1/preview.png")
        assert (status, body, kind) == (200, PNG, "image/png")
        for refused in (
            "/splat/job-1/splat.ply",
            "/splat/job-1/metrics.json",
            "/splat/job-1/../../secret.png",
            "/%2e%2e/secret.png",
            "/splat/job-1/missing.png",
            "/secret.png",
        ):
            assert _get(base + refused)[0] == 404, refused
    finally:
        server.shutdown()


def test_resolve_image_stays_under_the_root(storage: Path) -> None:
    assert resolve_image(storage, "/splat/job-1/preview.png") == (storage / "splat/job-1/preview.png").resolve()
    (storage / "splat" / "job-2").mkdir()
    (storage / "splat" / "job-2" / "out.png").symlink_to(storage.parent / "secret.png")
    assert resolve_image(storage, "/splat/job-2/out.png") is None  # a link out of the root


def test_the_ui_gets_a_preview_url_for_local_storage_only(storage: Path) -> None:
    env = with_preview_server({"GS_STORAGE_ROOT": str(storage)})
    url = env["GS_STORAGE_WEB_URL"]
    assert _get(f"{url}/splat/job-1/preview.png")[1] == PNG  # the URL the materializations will link
    given = {"GS_STORAGE_ROOT": str(storage), "GS_STORAGE_WEB_URL": "https://cdn.example/storage"}
    assert with_preview_server(given) == given
    s3 = {"GS_BUCKET": "s3://bucket", "GS_STORAGE_ROOT": "s3://bucket/storage"}
    assert "GS_STORAGE_WEB_URL" not in with_preview_server(s3)
