"""`make demo` / `python -m gs_dagster.demo [MEDIA]`: one reconstruction through Dagster, embedded default.

Without MEDIA it renders the demo gallery (gs_dagster.sample, gs_dagster.gallery: framed photographs, a
photo cube on a plinth, lamp light and shadows) and reconstructs it on a CPU in a few minutes, to about
31 dB held-out PSNR (docs/BENCHMARKS.md, issue #21). The job goes the way every job goes: media and job
JSON into the (local) bucket, the `job_intake` sensor validates and records it and requests the run, the
`reconstruction` multi-asset runs all five stages in one launch of the stage CLI under Pipes, the
run-status sensor records the outcome and writes the notice. Everything lands in the persistent
DAGSTER_HOME, so `gs-dagster ui` shows the run, its materializations, metrics and checks afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from gs_dagster.config import GsConfig, ensure_dagster_home
from gs_dagster.sample import SampleSpec
from gs_stages.layout import PREVIEW_PNG

#: Job options that keep the demo to a few minutes on a 2-core CPU (the job JSON defaults are GPU-sized).
DEMO_OPTIONS: dict[str, Any] = {
    "training.maxSteps": 1000,
    "videoProcessing.maxNumImages": 40,
    "sfm.matchingMethod": "exhaustive",
}
#: Engine settings for CPU speed (overridden by GS_STAGE_SETTINGS): train at half the sample's size, at that
#: size from the first step (no coarse-to-fine), densifying from step 200 (splatfacto waits 500 steps of its
#: 30000), and with colour alone (SH degree 0: the gallery's surfaces are matte, nothing to gain from bands).
DEMO_SETTINGS: dict[str, Any] = {
    "max_image_side": 640,
    "image_downscale": 2,
    "preset_overrides": {"num_downscales": 0, "warmup_length": 200, "sh_degree": 0},
}
#: The rendered gallery: 32 views on a circle around the plinth.
DEMO_SAMPLE = SampleSpec(views=32, width=320, height=240)


def sample_path(config: GsConfig) -> Path:
    """The cached sample zip, named by a hash of its spec and of the code that renders it, so that a changed
    scene is rendered afresh instead of an old cache being reused."""
    from gs_dagster import gallery, sample

    digest = hashlib.sha256(repr(DEMO_SAMPLE).encode())
    for module in (gallery, sample):
        digest.update(Path(module.__file__ or "").read_bytes())
    name = f"gallery-orbit-{DEMO_SAMPLE.views}-{digest.hexdigest()[:10]}.zip"
    return Path(config.outbox_dir).parent / "samples" / name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gs_dagster.demo", description=__doc__.split("\n")[0])
    parser.add_argument("media", nargs="?", help="a video (.mp4, .mov) or .zip of images (default: a synthetic scene)")
    parser.add_argument("--max-steps", type=int, default=DEMO_OPTIONS["training.maxSteps"])
    args = parser.parse_args(argv)

    import dagster as dg

    from gs_dagster.definitions import build_definitions
    from gs_dagster.embedded import EmbeddedRunner
    from gs_dagster.messages import human_seconds, quality_lines
    from gs_dagster.resources.job_table import open_job_table
    from gs_dagster.sample import write_sample
    from gs_dagster.submit import submit

    # The stage process inherits this: OpenMP threads that sleep while they wait, instead of spinning, keep
    # a CPU shared with other work from slowing training several times over (626 -> 114 ms a step, 2 threads).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    home = ensure_dagster_home()
    config = GsConfig.from_env()
    if not os.environ.get("GS_STAGE_SETTINGS"):
        config = config.with_(stage_settings=dict(DEMO_SETTINGS))
    print(f"DAGSTER_HOME={home}")
    print(f"bucket={config.bucket}  storage={config.storage_root}  job table={config.job_table}")

    media = Path(args.media) if args.media else sample_path(config)
    if not args.media and not media.is_file():
        print(f"rendering the synthetic sample scene to {media} ...")
        write_sample(media, DEMO_SAMPLE)
    started = time.monotonic()
    job = submit(media, config=config, options={**DEMO_OPTIONS, "training.maxSteps": args.max_steps})
    print(f"submitted job {job.uuid}: {job.job_uri}")

    runner = EmbeddedRunner(build_definitions(config), dg.DagsterInstance.get())
    for result in runner.process():
        print(f"run {result.run_id}: {'succeeded' if result.success else 'failed'}")

    table = open_job_table(config.job_table, endpoint_url=config.endpoint_url, region=config.region)
    record = table.get(job.uuid)
    deadline = time.monotonic() + 1800
    while record is not None and record.status in ("SUBMITTED", "RUNNING") and time.monotonic() < deadline:
        # A running `gs-dagster ui` (daemon, same DAGSTER_HOME) took the job first: wait for its run.
        time.sleep(5)
        record = table.get(job.uuid)
    if record is None:
        print(f"job {job.uuid} was not picked up; see `gs-dagster status`", file=sys.stderr)
        return 1
    print()
    print(f"job {job.uuid}: {record.status} in {human_seconds(time.monotonic() - started)}")
    for suffix in (".ply", ".spz", ".sog", ".mp4", ".png"):
        if suffix in record.outputs:
            print(f"  {suffix} -> {record.outputs[suffix]}")
    for line in quality_lines(record.metrics):
        print(line)
    if record.error:
        print("  error: " + record.error.replace("\n", "\n         "))
    if not config.notifier.startswith("arn:"):
        print(f"  notice: {config.outbox_dir}")
    print()
    for line in where_to_look(config, job.uuid, job.watch_url):
        print(line)
    return 0 if record.status == "COMPLETE" else 1


def where_to_look(config: GsConfig, uuid: str, watch_url: str) -> list[str]:
    """The closing lines: the held-out preview, the 3D viewer, the Dagster UI."""
    lines = ["Look at it:"]
    preview = Path(config.storage_root) / "splat" / uuid / PREVIEW_PNG
    if preview.is_file():
        lines.append(f"  held-out views, photo | splat side by side: {preview}")
    lines.append(f"  in 3D: make viewer (once), then .venv/bin/gs-dagster view {uuid}  (prints the viewer's URL)")
    lines.append(f"  the run in the Dagster UI: make ui (or .venv/bin/gs-dagster ui), then open {watch_url}")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
