"""`masks`: per-frame masks from U^2-Net (background removal, people left out); with segmentation off
the frames pass through (no masks). What each option does: docs/OPERATING.md, "Segmentation".
"""

from __future__ import annotations

import dagster as dg

from gs_dagster.assets.frames import GROUP
from gs_dagster.partitions import job_partitions

spec = dg.AssetSpec(
    "masks",
    deps=["frames"],
    description=(
        "Per-frame masks (U^2-Net through onnxruntime). removeBackground: masks/ (255 = object; the "
        "background trains transparent). removeHumanSubject: ignore/ (255 = person; SfM and training leave "
        "those pixels out). Segmentation off (the default): no masks, frames pass through."
    ),
    group_name=GROUP,
    kinds={"python"},
    partitions_def=job_partitions,
    metadata={"stage": "masks"},
)
