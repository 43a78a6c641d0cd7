"""`sparse_model`: camera poses and a sparse point cloud (SfM, or the pose priors shipped in the zip)."""

from __future__ import annotations

import dagster as dg

from gs_dagster.assets.frames import GROUP
from gs_dagster.partitions import job_check_spec, job_partitions
from gs_stages.quality_checks import CHECK_DESCRIPTIONS, REGISTERED_RATIO

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

registered_ratio_check = job_check_spec(REGISTERED_RATIO, "sparse_model", CHECK_DESCRIPTIONS[REGISTERED_RATIO])
