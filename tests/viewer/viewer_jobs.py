"""Finished jobs for the viewer tests: a known splat through the real spz stage, delivered and recorded.

The splat is the synthetic scene's ground truth (tests/stages/splat_scenes.py: a textured ball in a
textured room) with the splat stage's `cameras.json` for cameras on a circle around it. The spz stage
(rotation on, as by default) writes the delivered files and rotated cameras; `assets.delivery.deliver` copies
them to the bucket, and the job table holds the run's outcome as the run-status sensor writes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gs_dagster.assets.delivery import deliver
from gs_dagster.resources.job_table import JobRecord, RunOutcome, utc_now
from gs_dagster.resources.stage_folders import stage_folder
from gs_dagster.resources.storage import Store
from gs_stages.cli import run_stage
from gs_stages.export.cameras import CAMERAS_JSON, camera_entry, write_cameras
from gs_stages.export.ply import write_ply
from gs_stages.gaussians import Gaussians
from gs_stages.layout import SPLAT_PLY
from tests.stages.jobs import make_spec
from tests.stages.splat_scenes import ground_truth, look_at


def truth_splat() -> Gaussians:
    """The synthetic scene's Gaussians in the file layout (log scales, logit opacities, SH DC)."""
    gt = ground_truth()
    opacity = gt["opacities"].numpy().astype(np.float64)
    return Gaussians(
        means=gt["means"].numpy(),
        scales=np.log(gt["scales"].numpy()),
        quats=gt["quats"].numpy(),
        opacities=np.log(opacity / (1 - opacity)).astype(np.float32),
        sh=gt["colors"].numpy(),
    )


def write_trained_splat(directory: Path, width: int, height: int, n_cameras: int = 8) -> Path:
    """A splat stage output: splat.ply and cameras.json (training coordinates, z up as the scene)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_ply(directory / SPLAT_PLY, truth_splat())
    focal = 0.5 * width / math.tan(math.radians(30))
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    cameras = []
    for i in range(n_cameras):
        angle = 2 * math.pi * i / n_cameras + 0.3
        position = np.array([2.2 * math.cos(angle), 2.2 * math.sin(angle), 0.5 * math.sin(3 * angle)])
        cameras.append(camera_entry(f"{i:06d}.jpg", look_at(position, np.zeros(3)), K, width, height))
    write_cameras(directory / CAMERAS_JSON, cameras, axes="training")
    return directory


@dataclass(frozen=True)
class FinishedJob:
    uuid: str
    name: str
    spz_dir: Path  # the spz stage's local output (what was delivered)
    outputs: dict[str, str]


#: The fly-through and thumbnail small (the PyTorch renderer on a CPU), no .sog (tests/stages/test_export_media.py).
SMALL_MEDIA = {"flythrough_seconds": 1, "flythrough_fps": 4, "flythrough_long_side": 48, "thumbnail_long_side": 80}


def finished_job(
    tmp: Path,
    table,
    storage: Store,
    bucket: Store,
    uuid: str,
    media: str,
    width: int = 160,
    height: int = 120,
    settings: dict | None = None,
) -> FinishedJob:
    """Run the spz stage on the known splat, store and deliver its output, and record a COMPLETE run."""
    spec = make_spec(input_key=media).with_overrides({"uuid": uuid})
    splat_dir = write_trained_splat(tmp / uuid / "splat", width, height)
    spz_dir = tmp / uuid / "spz"
    stage_settings = {**SMALL_MEDIA, "sog": "false", **(settings or {})}
    metrics = run_stage("spz", spec, {"splat": splat_dir}, spz_dir, stage_settings)
    storage.upload_dir(spz_dir, f"spz/{uuid}")
    delivered = deliver(stage_folder(storage, "spz", uuid), storage, bucket, spec)
    table.create(JobRecord(uuid=uuid, submitted_at=utc_now(), media_uri=bucket.uri_of(f"media-input/{media}")))
    outputs = {"spz": storage.uri_of(f"spz/{uuid}"), **delivered}
    started = utc_now()
    table.record_run(uuid, RunOutcome(run_id=f"run-{uuid}", status="RUNNING", started_at=started))
    outcome = RunOutcome(
        run_id=f"run-{uuid}",
        status="COMPLETE",
        started_at=started,
        ended_at=utc_now(),
        elapsed_s=754.0,
        stages=["frames", "sparse_model", "splat", "spz"],
        outputs=outputs,
        metrics={"psnr": 27.5, "num_gaussians": metrics["gaussians"]},
    )
    table.record_run(uuid, outcome)
    return FinishedJob(uuid, media, spz_dir, outputs)
