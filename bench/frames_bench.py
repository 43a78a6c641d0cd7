"""Time the frames stage on a zip of phone-sized photos, decoding one photo at a time against the
stage's default (`num_threads` 0: every core, at most 8), side by side in one process.

The photos are the fox images (1920x1080) upscaled to a phone's 12 MP (4032x2268 here, 16:9) and saved as
HEIC (iPhones' default) or JPEG, so decode cost is a phone's, not the test data's.

    .venv/bin/python bench/frames_bench.py [--data /work/shared/data] [--count 24] [--format heic|jpeg]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
import zipfile
from pathlib import Path

import pillow_heif
from PIL import Image

from gs_stages.cli import run_stage
from gs_stages.jobspec import parse_job

PHONE_SIZE = (4032, 2268)


def _photo_zip(data: Path, count: int, kind: str, target: Path) -> Path:
    sources = sorted((data / "fox" / "images").glob("*.jpg"))[:count]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for index, source in enumerate(sources):
            image = Image.open(source).convert("RGB").resize(PHONE_SIZE, Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            if kind == "heic":
                pillow_heif.from_pillow(image).save(buffer, quality=85)
            else:
                image.save(buffer, "JPEG", quality=92)
            archive.writestr(f"IMG_{index:04d}.{kind}", buffer.getvalue())
    return target


def _run(media: Path, output: Path, threads: int) -> dict:
    spec = parse_job({"uuid": "frames-bench", "s3": {"bucketName": "bench", "inputKey": media.name}})
    spec = spec.with_overrides({"imageProcessing.filterBlurryImages": False})
    started = time.perf_counter()
    metrics = run_stage("frames", spec, {"media": media}, output, {"num_threads": threads} if threads else {})
    return {"wall_s": round(time.perf_counter() - started, 2), "frames": metrics["frame_count"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--format", choices=("heic", "jpeg"), default="heic")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        media = _photo_zip(args.data, args.count, args.format, Path(scratch) / "photos.zip")
        rows = {}
        for label, threads in (
            ("one at a time", 1),
            ("default", 0),
            ("one at a time (again)", 1),
            ("default (again)", 0),
        ):
            rows[label] = _run(media, Path(scratch) / f"out-{len(rows)}", threads)
            print(label, rows[label], flush=True)
    sequential = min(rows["one at a time"]["wall_s"], rows["one at a time (again)"]["wall_s"])
    parallel = min(rows["default"]["wall_s"], rows["default (again)"]["wall_s"])
    print(
        json.dumps(
            {
                "machine": platform.machine(),
                "cores": len(os.sched_getaffinity(0)),
                "photos": args.count,
                "format": args.format,
                "size": PHONE_SIZE,
                "rows": rows,
                "ratio": round(parallel / sequential, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
