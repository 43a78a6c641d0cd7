"""`spz`: the delivered files, `<name>.ply` and `<name>.spz`, also placed under `<outputPrefix>/<uuid>/`
in the deployment bucket like the reference system does (only when the .spz reads back). With
`training.enable: false` the delivered files are the SfM result: `<name>_points.ply` and `sparse/0/`; with
`training.model: nerfacto` (a NeRF, no Gaussians) the textured mesh `<name>.glb` and `<name>_points.ply`."""

from __future__ import annotations

import re

import dagster as dg

from assets.frames import GROUP
from gs_dagster.partitions import job_check_spec, job_partitions
from gs_stages.jobspec import JobSpec
from gs_stages.s3_keys import S3_KEY_MAX_BYTES
from resources.launcher import StageFailure
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

DELIVERED_SUFFIXES = (".ply", ".spz", ".glb")  # .glb: nerfacto's textured mesh (no .spz for a NeRF)
SPARSE_MODEL = "sparse/0"  # what a job with training off delivers besides its points .ply


def output_key(spec_: JobSpec, name: str) -> str:
    return "/".join(p for p in (spec_.s3.output_prefix, spec_.uuid, name) if p)


def deliver(storage: Store, bucket: Store, job: JobSpec) -> dict[str, str]:
    """Copy `<storage>/spz/<uuid>/*.{ply,spz}` to `<bucket>/<outputPrefix>/<uuid>/` (server-side on S3);
    with training off (gs_stages/export/sparse.py) also the COLMAP model `sparse/0/`.

    Returns {".ply": uri, ".spz": uri} (training off: {".ply": the points .ply, "sparse": the model folder};
    nerfacto: {".glb": the mesh, ".ply": its points .ply}).
    A copy that fails is a StageFailure of spz that names the file, the bucket and key, S3's error code and
    what to do, instead of a bare step error.
    """
    delivered: dict[str, str] = {}
    for obj in storage.iter_objects(f"spz/{job.uuid}/", children_only=True):
        name = obj.key.rsplit("/", 1)[-1]
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        if suffix in DELIVERED_SUFFIXES:
            key = output_key(job, name)
            if len(key.encode()) > S3_KEY_MAX_BYTES:
                raise StageFailure("spz", _failure(name, bucket, key, "KeyTooLong", f"{len(key.encode())} bytes"))
            try:
                storage.copy_to(obj.key, bucket, key)
            except Exception as exc:  # S3 (ClientError, BotoCoreError) or the local file system (OSError)
                raise StageFailure("spz", _failure(name, bucket, key, _error_code(exc), str(exc))) from exc
            delivered[suffix] = bucket.uri_of(key)
    model = f"spz/{job.uuid}/{SPARSE_MODEL}/"
    for obj in storage.iter_objects(model):
        storage.copy_to(obj.key, bucket, output_key(job, SPARSE_MODEL + "/" + obj.key[len(model) :]))
        delivered["sparse"] = bucket.uri_of(output_key(job, SPARSE_MODEL)) + "/"
    return delivered


#: What to do about a failed delivery, by S3 error code (anything else: the generic advice).
_ADVICE = {
    "AccessDenied": "the deployment role may not write there: use an s3.outputPrefix the roles grant "
    "(GS_OUTPUT_PREFIXES, the Terraform's job_output_prefix) or grant that prefix",
    "NoSuchBucket": "the deployment bucket does not exist (GS_BUCKET); create it or point GS_BUCKET at it",
    "KeyTooLong": f"S3 keys are at most {S3_KEY_MAX_BYTES} bytes: shorten s3.outputPrefix or the output_name setting",
    "KMS.DisabledException": "the bucket's KMS key is disabled; enable it",
}


def _error_code(exc: BaseException) -> str:
    """S3's error code of a failure, also where boto3's transfer wraps it (S3UploadFailedError says it only in
    its text), else the exception's type."""
    cause: BaseException | None = exc
    while cause is not None:
        code = (getattr(cause, "response", None) or {}).get("Error", {}).get("Code")
        if code:
            return str(code)
        cause = cause.__cause__ or cause.__context__
    found = re.search(r"An error occurred \(([\w.]+)\) when calling", str(exc))
    if found:
        return found.group(1)
    return "AccessDenied" if isinstance(exc, PermissionError) else type(exc).__name__


def _failure(name: str, bucket: Store, key: str, code: str, detail: str) -> str:
    advice = _ADVICE.get(code, "check the bucket and the role's permissions, then re-materialize spz")
    return (
        f"delivering {name} to {bucket.uri_of(key)} failed ({code}: {detail}). What to do: {advice}; the "
        "trained splat is kept in storage, so re-materializing spz delivers it without training again"
    )
