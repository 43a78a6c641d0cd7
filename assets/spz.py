"""`spz`: the delivered files, `<name>.ply` and `<name>.spz`, also placed under `<outputPrefix>/<uuid>/`
in the deployment bucket like the reference system does (only when the .spz reads back). With
`training.enable: false` the delivered files are the SfM result: `<name>_points.ply` and `sparse/0/`."""

from __future__ import annotations

import dagster as dg

from assets.frames import GROUP
from gs_dagster.partitions import job_check_spec, job_partitions
from gs_stages.jobspec import JobSpec
from resources.storage import Store

spec = dg.AssetSpec(
    "spz",
    deps=["splat", "sparse_model"],
    description=(
        "The splat as .ply and compressed .spz (rotated when training.rotateSplat), delivered to "
        "`<bucket>/<outputPrefix>/<uuid>/`. Checked: the .spz reads back with the same Gaussian count."
    ),
    group_name=GROUP,
    kinds={"python"},
    partitions_def=job_partitions,
    metadata={"stage": "spz"},
)

SPZ_READS_BACK = "spz_reads_back"

spz_reads_back_check = job_check_spec(
    SPZ_READS_BACK,
    "spz",
    "The .spz decodes and holds as many Gaussians as the splat (gs_stages.export.spz.read_spz).",
)

DELIVERED_SUFFIXES = (".ply", ".spz")
SPARSE_MODEL = "sparse/0"  # what a job with training off delivers besides its points .ply


def output_key(spec_: JobSpec, name: str) -> str:
    return "/".join(p for p in (spec_.s3.output_prefix, spec_.uuid, name) if p)


def deliver(storage: Store, bucket: Store, job: JobSpec) -> dict[str, str]:
    """Copy `<storage>/spz/<uuid>/*.{ply,spz}` to `<bucket>/<outputPrefix>/<uuid>/` (server-side on S3);
    with training off (gs_stages/export/sparse.py) also the COLMAP model `sparse/0/`.

    Returns {".ply": uri, ".spz": uri} (training off: {".ply": the points .ply, "sparse": the model folder}).
    """
    delivered: dict[str, str] = {}
    for obj in storage.iter_objects(f"spz/{job.uuid}/", children_only=True):
        name = obj.key.rsplit("/", 1)[-1]
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        if suffix in DELIVERED_SUFFIXES:
            key = output_key(job, name)
            storage.copy_to(obj.key, bucket, key)
            delivered[suffix] = bucket.uri_of(key)
    model = f"spz/{job.uuid}/{SPARSE_MODEL}/"
    for obj in storage.iter_objects(model):
        storage.copy_to(obj.key, bucket, output_key(job, SPARSE_MODEL + "/" + obj.key[len(model) :]))
        delivered["sparse"] = bucket.uri_of(output_key(job, SPARSE_MODEL)) + "/"
    return delivered
