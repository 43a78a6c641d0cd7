"""`sparse_model`: camera poses and a sparse point cloud (SfM, or the pose priors shipped in the zip)."""

from __future__ import annotations

import dagster as dg

from gs_dagster.assets.frames import GROUP
from gs_dagster.partitions import job_check_spec, job_partitions

spec = dg.AssetSpec(
    "sparse_model",
    deps=["frames", "masks"],
    description=(
        "COLMAP model `sparse/0/` of the frames: structure from motion (sfm.softwareName), or the job's "
        "pose priors. Checked: the share of frames that got a camera pose."
    ),
    group_name=GROUP,
    kinds={"python", "colmap"},
    partitions_def=job_partitions,
    metadata={"stage": "sparse_model"},
)

REGISTERED_RATIO = "registered_ratio"

registered_ratio_check = job_check_spec(
    REGISTERED_RATIO,
    "sparse_model",
    "Registered images / input frames is at least the minimum: resource quality.min_registered_ratio, from "
    "GS_MIN_REGISTERED_RATIO (default 0.5).",
)
