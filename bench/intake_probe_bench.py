"""What the intake's look into a job's video costs (gs_dagster/sensors/video_intake.py), starting its probe
process included: a local file where it lies, and the same file in S3 (a moto server in this process, over
HTTP), fetched whole up to 48 MiB, else as its first 32 and last 16 MiB.

    .venv/bin/python bench/intake_probe_bench.py VIDEO [VIDEO ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from gs_dagster.resources.local_store import LocalStore
from gs_dagster.resources.s3_store import S3Store
from gs_dagster.sensors import video_intake
from gs_stages.jobspec import parse_job

BUCKET = "bench-bucket"


def _best_of(runs: int, action) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the moto server's stand-ins, never real keys
        os.environ.setdefault(name, "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    store = S3Store(f"s3://{BUCKET}", endpoint_url=endpoint, region="us-east-1")
    try:
        for video in args.videos:
            spec = parse_job({"uuid": "bench", "s3": {"bucketName": BUCKET, "inputKey": video.name}})
            folder = LocalStore(video.resolve().parent)
            here = folder.head(video.name)
            local_s, problem = _best_of(args.runs, lambda m=here, j=spec, f=folder: video_intake.video_problem(f, j, m))
            key = f"media-input/{video.name}"
            s3.upload_file(str(video), BUCKET, key)
            media = store.head(key)
            s3_s, s3_problem = _best_of(args.runs, lambda m=media, j=spec: video_intake.video_problem(store, j, m))
            whole = media.size <= video_intake.PROBE_HEAD_BYTES + video_intake.PROBE_TAIL_BYTES
            print(
                f"{video.name}: {media.size / 2**20:.1f} MiB; local probe {local_s:.3f} s "
                f"({'refused' if problem else 'accepted'}); S3 probe ({'whole' if whole else 'start+end'}) "
                f"{s3_s:.3f} s ({'refused' if s3_problem else 'accepted'})"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
