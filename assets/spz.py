"""`spz`: the files to deliver, `<name>.ply`, `<name>.spz`, `<name>.sog`, the fly-through `<name>.mp4`, the
thumbnail `<name>.png` and the capture cameras `cameras.json` (those the spz stage wrote; with
`training.enable: false` the SfM result: `<name>_points.ply` and `sparse/0/`); the `delivery` asset
(assets/delivery.py) places them in the deployment bucket. With `training.model: nerfacto` (a NeRF, no
Gaussians) the files are the textured mesh `<name>.glb` and `<name>_points.ply`."""

from __future__ import annotations

import dagster as dg

from gs_dagster.assets.frames import GROUP
from gs_dagster.partitions import job_check_spec, job_partitions
from gs_stages.quality_checks import CHECK_DESCRIPTIONS, SPZ_READS_BACK

spec = dg.AssetSpec(
    "spz",
    deps=["splat", "sparse_model"],
    description=(
        "The splat as .ply, compressed .spz and .sog (rotated when training.rotateSplat), a fly-through .mp4, "
        "a thumbnail .png and the capture cameras.json, under `<storage>/spz/<uuid>/` (the delivery asset "
        "copies them to the bucket). Checked: the .spz reads back with the same Gaussian count."
    ),
    group_name=GROUP,
    kinds={"python"},
    partitions_def=job_partitions,
    metadata={"stage": "spz"},
)

spz_reads_back_check = job_check_spec(SPZ_READS_BACK, "spz", CHECK_DESCRIPTIONS[SPZ_READS_BACK])
