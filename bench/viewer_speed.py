"""Viewer speed: time from opening a job's view page to the first frame of a 1 M-Gaussian .spz, in headless
Chromium (Debian's chromium; WebGL on SwiftShader, the CPU, as in tests/viewer), through `gs-dagster view`'s
own server and library (gs_dagster/viewer), for SPZ v3 and v4 files of the same splat.

    PYTHONPATH=$PWD:$PWD/container .venv/bin/python bench/viewer_speed.py --gaussians 1000000 --runs 3

Reports per version: the file size, `loaded_ms` (navigation start to Spark's SplatMesh initialized: fetch
and decode) and `first_frame_ms` (to the first frame drawn with the splat), the median of `--runs` page
loads after one warm-up. Prints JSON; writes $OUT/viewer_speed.json when $OUT is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from bench.flythrough_bench import orbit_cameras, synthetic_splat
from gs_dagster.config import GsConfig
from gs_dagster.resources.job_table import JobRecord, RunOutcome, open_job_table, utc_now
from gs_dagster.resources.storage import LocalStore
from gs_dagster.viewer.library import Library
from gs_stages.export.cameras import write_cameras
from gs_stages.export.spz import write_spz
from tests.viewer.browser import chromium_paths, serving, start_chromium, wait_for

TIMINGS = "return [window.gsViewer.loadedMs, window.gsViewer.firstFrameMs]"


def job_with(root: Path, table, version: int, g, cameras) -> str:
    """A COMPLETE job whose delivery folder holds the splat as SPZ `version`."""
    uuid = f"speed-v{version}"
    folder = root / "bucket" / "out" / uuid
    folder.mkdir(parents=True, exist_ok=True)
    write_spz(folder / f"{uuid}.spz", g, version=version)
    stage = root / "storage" / "spz" / uuid
    stage.mkdir(parents=True, exist_ok=True)
    write_cameras(stage / "cameras.json", cameras, axes="bench")
    table.create(JobRecord(uuid=uuid, submitted_at=utc_now(), media_uri="bench"))
    outputs = {".spz": str(folder / f"{uuid}.spz"), "spz": str(stage)}
    table.record_run(uuid, RunOutcome(run_id=uuid, status="COMPLETE", started_at=utc_now(), outputs=outputs))
    return uuid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gaussians", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="640x480")
    args = parser.parse_args()
    paths = chromium_paths()
    if paths is None:
        raise SystemExit("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    width, height = (int(v) for v in args.size.split("x"))
    g, cameras = synthetic_splat(args.gaussians, 3), orbit_cameras(8, width, height)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = GsConfig.from_env({"GS_DATA_DIR": str(root)})
        table = open_job_table(config.job_table)
        uuids = {v: job_with(root, table, v, g, cameras) for v in (3, 4)}
        library = Library(config, table, LocalStore(root / "bucket"), LocalStore(root / "storage"))
        driver = start_chromium(paths, page_load_timeout=900, eager=True)
        results = {}
        try:
            with serving(library) as url:
                for version, uuid in uuids.items():
                    spz = root / "bucket" / "out" / uuid / f"{uuid}.spz"
                    timings = []
                    try:
                        for _ in range(args.runs + 1):  # the first load warms the browser's caches
                            page = f"{url}/view.html?job={uuid}&camera=0&format=.spz&width={width}&height={height}"
                            driver.get(page)
                            wait_for(driver, "window.gsViewer && window.gsViewer.firstFrameMs", timeout=900)
                            timings.append(driver.execute_script(TIMINGS))
                    except AssertionError as exc:  # the viewer reported an error (Spark 2.2.0 on SPZ v4)
                        results[f"v{version}"] = {"spz_bytes": spz.stat().st_size, "error": str(exc)}
                        continue
                    results[f"v{version}"] = {
                        "spz_bytes": spz.stat().st_size,
                        "loaded_ms": round(statistics.median(t[0] for t in timings[1:])),
                        "first_frame_ms": round(statistics.median(t[1] for t in timings[1:])),
                        "runs_ms": timings[1:],
                    }
        finally:
            driver.quit()
    record = {
        "gaussians": args.gaussians,
        "canvas": args.size,
        "browser": "headless Chromium, WebGL on SwiftShader (CPU)",
        "cpus": os.cpu_count(),
        **results,
    }
    print(json.dumps(record, indent=1))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "viewer_speed.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
