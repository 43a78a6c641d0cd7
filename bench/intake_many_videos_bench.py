"""N video jobs dropped at once into a local bucket: how long the intake's ticks take, how many probes each runs.

Answers "is the probe re-run on every tick while jobs wait?": it runs once per job upload (the record then
holds the outcome), and a tick stops at its 20 s budget. Run from the repository root:
`PYTHONPATH=.:container:tests:tests/dagster .venv/bin/python bench/intake_many_videos_bench.py [N] [VIDEO]`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import dagster as dg
from gs_testkit import job_json
from intake_drops import Drops
from shared_data import DATA

from gs_dagster.sensors import video_intake


def main(count: int, video: Path) -> None:
    probes: list[str] = []
    probe = video_intake._probe

    def counted(path: Path, *args: object, **kwargs: object) -> object:
        probes.append(str(path))
        return probe(path, *args, **kwargs)

    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        drops = Drops.local(Path(tmp), instance)
        for index in range(count):
            drops.put(f"media-input/v{index}.mp4", video.read_bytes())
            drops.put(
                f"workflow-input/job{index:03d}.json",
                json.dumps(job_json(f"job{index:03d}", "gs-local", f"v{index}.mp4")),
            )
        with mock.patch.object(video_intake, "_probe", counted):
            for tick in range(4):
                before, started = len(probes), time.monotonic()
                requested = len(drops.tick().run_requests)
                print(
                    f"tick {tick}: {time.monotonic() - started:5.2f} s, {requested} runs, {len(probes) - before} probes"
                )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 50,
        Path(sys.argv[2]) if len(sys.argv) > 2 else DATA / "apple_video" / "apple.mp4",
    )
