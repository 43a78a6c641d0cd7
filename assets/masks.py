"""`masks`: per-frame foreground masks; with segmentation off the frames pass through (no masks).

Background and human-subject removal are accepted by the job spec but not available in this build: the
stage fails with "... is not available in this build" rather than silently skipping them.
"""

from __future__ import annotations

import dagster as dg

from assets.frames import GROUP
from gs_dagster.partitions import job_partitions

spec = dg.AssetSpec(
    "masks",
    deps=["frames"],
    description=(
        "Foreground masks for the frames. Segmentation off (the default): no masks, frames pass through. "
        "segmentation.removeBackground / removeHumanSubject fail clearly: not available in this build."
    ),
    group_name=GROUP,
    kinds={"python"},
    partitions_def=job_partitions,
    metadata={"stage": "masks"},
)
