"""`gs-dagster view` as users run it: the printed URL serves the library's JSON, the job's files and the
renderer's modules, locally (folders, SQLite) and in AWS mode against moto over HTTP (S3, DynamoDB,
presigned download URLs); nothing outside a job's own files or the renderer's packages is reachable."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3

from gs_dagster.config import GsConfig
from gs_dagster.viewer.library import Library

from .viewer_jobs import FinishedJob, finished_job

ROOT = Path(__file__).resolve().parents[2]


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GS_")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'container'}"
    return {**env, **extra}


@contextlib.contextmanager
def view(env: dict[str, str], *args: str) -> Iterator[str]:
    """`gs-dagster view --port 0 ARGS` running; yields the URL it printed."""
    command = [sys.executable, "-m", "gs_dagster.cli", "view", "--port", "0", *args]
    process = subprocess.Popen(command, env=_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:"), (line, process.stderr.read() if process.poll() else "")
        yield line
    finally:
        process.terminate()
        process.wait(timeout=30)


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def check_served_job(root: str, job: FinishedJob, other: FinishedJob) -> dict:
    status, body, kind = get(f"{root}/api/jobs")
    assert (status, kind) == (200, "application/json")
    jobs = {j["uuid"]: j for j in json.loads(body)}
    assert set(jobs) == {job.uuid, other.uuid}
    entry = jobs[job.uuid]
    assert (entry["name"], entry["status"], entry["duration"]) == (job.name, "COMPLETE", "12m 34s")
    assert (entry["psnr"], entry["gaussians"]) == (27.5, 3000)
    assert entry["view_url"] == f"/view.html?job={job.uuid}"
    downloads = {d["name"]: d["url"] for d in entry["downloads"]}
    # The fly-through and thumbnail the spz stage wrote are delivered beside the splat (no .sog: off in SMALL_MEDIA).
    assert list(downloads) == [f"{job.uuid}.spz", f"{job.uuid}.ply", f"{job.uuid}.mp4", f"{job.uuid}.png"]
    for name, url in downloads.items():  # a download link gives the delivered bytes
        status, body, _ = get(url if url.startswith("http") else root + url)
        assert status == 200 and body == (job.spz_dir / name).read_bytes(), name
    status, body, _ = get(root + entry["splat_url"])  # what the viewer loads: the .spz
    assert status == 200 and body == (job.spz_dir / f"{job.uuid}.spz").read_bytes()
    status, body, _ = get(root + entry["cameras_url"])
    assert status == 200 and json.loads(body) == json.loads((job.spz_dir / "cameras.json").read_text())
    return entry


def check_nothing_else(root: str, job: FinishedJob, other: FinishedJob) -> None:
    for path in (
        f"/files/{job.uuid}/{other.uuid}.spz",  # another job's file under this job
        f"/files/{job.uuid}/metrics.json",  # in the stage's folder, but not a delivered file
        f"/files/{job.uuid}/..%2F..%2Fjobs.sqlite3",
        "/vendor/../package.json",
        "/vendor/fflate/package.json",  # installed, but not a package the pages import
        "/api/jobs/no-such-job",
        "/viewer.py",
    ):
        assert get(root + path)[0] == 404, path
    status, body, kind = get(f"{root}/vendor/@sparkjsdev/spark/dist/spark.module.js")
    assert (status, kind) == (200, "text/javascript") and b"SplatMesh" in body
    status, body, kind = get(f"{root}/view.html")
    assert status == 200 and kind.startswith("text/html") and b"/vendor/three/build/three.module.js" in body


def test_view_serves_the_library_and_job_files_locally(tmp_path):
    env = {"GS_DATA_DIR": str(tmp_path / "data")}
    config = GsConfig.from_env(env)
    library = Library.open(config)
    args = (library.table, library.storage, library.bucket)
    job = finished_job(tmp_path / "work", *args, "job-local", "fox.mp4")
    other = finished_job(tmp_path / "work", *args, "job-other", "kermit.zip")
    delivered = Path(config.bucket) / "workflow-output" / job.uuid
    thumbnail = delivered / f"{job.uuid}.png"  # the spz stage's thumbnail, delivered beside the .spz
    assert thumbnail.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (delivered / "notes.txt").write_text("not a delivered kind")
    with view(env) as root:
        assert root.endswith("/")
        root = root.rstrip("/")
        status, body, _ = get(root + "/")
        assert status == 200 and b"job library" in body
        entry = check_served_job(root, job, other)
        assert all(d["url"].startswith(f"/files/{job.uuid}/") for d in entry["downloads"])
        assert entry["thumbnail_url"] == f"/files/{job.uuid}/{thumbnail.name}"
        assert get(f"{root}/files/{job.uuid}/notes.txt")[0] == 404
        check_nothing_else(root, job, other)
    with view(env, job.uuid) as url:
        assert url.endswith(f"/view.html?job={job.uuid}")


def test_view_of_an_unknown_job_says_so(tmp_path):
    command = [sys.executable, "-m", "gs_dagster.cli", "view", "nope", "--port", "0"]
    result = subprocess.run(command, env=_env({"GS_DATA_DIR": str(tmp_path)}), capture_output=True, text=True)
    assert result.returncode == 1 and "no job 'nope'" in result.stderr


def test_view_in_aws_mode_reads_the_bucket_with_presigned_downloads(tmp_path, moto_env):
    bucket_name = "gs-viewer-test"
    boto3.client("s3", endpoint_url=moto_env).create_bucket(Bucket=bucket_name)
    env = {
        "GS_BUCKET": f"s3://{bucket_name}",
        "GS_JOB_TABLE": "dynamodb://gs-viewer-jobs",
        "GS_AWS_ENDPOINT_URL": moto_env,
        **{k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")},
    }
    config = GsConfig.from_env(env)
    library = Library.open(config)
    assert library.storage.uri == f"s3://{bucket_name}/gs-storage"
    args = (library.table, library.storage, library.bucket)
    job = finished_job(tmp_path / "work", *args, "job-aws", "fox.mp4")
    other = finished_job(tmp_path / "work", *args, "job-aws-other", "kermit.zip")
    with view(env) as root:
        root = root.rstrip("/")
        entry = check_served_job(root, job, other)
        for download in entry["downloads"]:  # presigned: straight from the bucket, not through the viewer
            assert download["url"].startswith(f"{moto_env}/{bucket_name}/"), download
            assert "Signature=" in download["url"] and "Expires=" in download["url"]
        check_nothing_else(root, job, other)


def test_view_without_the_renderer_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    from gs_dagster.viewer import server
    from gs_dagster.viewer.cli import serve

    monkeypatch.setattr(server, "NODE_MODULES", tmp_path / "node_modules")  # as on a clone before `make viewer`
    assert serve(GsConfig.from_env({"GS_DATA_DIR": str(tmp_path)}), None, "127.0.0.1", 0) == 2
    assert "the viewer's npm packages are not installed (three, @sparkjsdev/spark): run `make viewer`" in (
        capsys.readouterr().err
    )
