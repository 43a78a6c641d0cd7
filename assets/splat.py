"""`splat`: the trained Gaussian splat (`splat.ply`), its held-out PSNR and a preview image."""

from __future__ import annotations

import dagster as dg

from gs_dagster.assets.frames import GROUP
from gs_dagster.partitions import job_check_spec, job_partitions
from gs_stages.quality_checks import CHECK_DESCRIPTIONS, HELDOUT_PSNR

spec = dg.AssetSpec(
    "splat",
    deps=["frames", "masks", "sparse_model"],
    description=(
        "Gaussian splat trained on the frames from the sparse model (training.model, training.maxSteps). "
        "Materializations show the held-out PSNR, the Gaussian count and a preview of held-out views."
    ),
    group_name=GROUP,
    kinds={"python", "pytorch"},
    partitions_def=job_partitions,
    metadata={"stage": "splat"},
)

heldout_psnr_check = job_check_spec(HELDOUT_PSNR, "splat", CHECK_DESCRIPTIONS[HELDOUT_PSNR])
