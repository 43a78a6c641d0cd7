"""`frames`: the job's media (video or image zip) as a sequence of sharp, sequentially named images."""

from __future__ import annotations

import dagster as dg

from gs_dagster.partitions import job_partitions

GROUP = "reconstruction"

spec = dg.AssetSpec(
    "frames",
    description=(
        "Frames extracted from the job's media: a video is sampled (sharpest frame per window), a .zip of "
        "images is unpacked (pose priors kept as given). `images/`, `manifest.json`, `metrics.json` under "
        "`<storage>/frames/<uuid>/`."
    ),
    group_name=GROUP,
    kinds={"python", "opencv"},
    partitions_def=job_partitions,
    metadata={"stage": "frames", "cli": "python -m gs_stages frames --input media=..."},
)
