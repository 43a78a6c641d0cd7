"""`delivery`: the job's result placed in the deployment bucket, `<bucket>/<outputPrefix>/<uuid>/`, like the
reference system does: `<name>.ply` and `<name>.spz`, and those of `<name>.sog`, the fly-through `<name>.mp4`, the
thumbnail `<name>.png` and `cameras.json` the spz stage wrote (training off: `<name>_points.ply` and `sparse/0/`).

An ordinary asset downstream of `spz`: its input is spz's `StageFolder` handle from the `storage` IO
manager (resources/stage_folders.py), so it reads only the files it delivers (server-side copies on S3,
nothing through this process) and can be re-materialized alone, e.g. after fixing the bucket's
permissions, without running the GPU chain. It runs only when spz's blocking check passed.
"""

import re
import warnings

import dagster as dg

from gs_dagster.assets.frames import GROUP
from gs_dagster.assets.pipeline import STORAGE, load_spec
from gs_dagster.assets.results import link
from gs_dagster.partitions import DELIVERY, job_partitions
from gs_dagster.resources.job_table import JobTableResource
from gs_dagster.resources.launcher import StageFailure
from gs_dagster.resources.stage_folders import StageFolder, StageStorage
from gs_dagster.resources.storage import BucketResource, Store
from gs_dagster.viewer.links import job_view_url
from gs_stages.jobspec import JobSpec
from gs_stages.s3_keys import S3_KEY_MAX_BYTES

DELIVERED_SUFFIXES = (".ply", ".spz", ".sog", ".mp4", ".png", ".glb")  # .glb: nerfacto's textured mesh (no .spz)
#: Delivered by name too: the capture cameras, so a viewer opened on the bucket starts at a photo's view.
DELIVERED_NAMES = {"cameras.json": "cameras"}
SPARSE_MODEL = "sparse/0"  # what a job with training off delivers besides its points .ply


def output_key(spec_: JobSpec, name: str) -> str:
    return "/".join(p for p in (spec_.s3.output_prefix, spec_.uuid, name) if p)


def deliver(folder: StageFolder, storage: Store, bucket: Store, job: JobSpec) -> dict[str, str]:
    """Copy the spz folder's `*.{ply,spz,sog,mp4,png}` and `cameras.json` to `<bucket>/<outputPrefix>/<uuid>/`
    (server-side on S3); with
    training off (gs_stages/export/sparse.py) also the COLMAP model `sparse/0/`.

    Returns {".ply": uri, ".spz": uri, ".sog": ..., ".mp4": ..., ".png": ..., "cameras": uri} for the files the
    stage wrote (training off: {".ply": the points .ply, "sparse": the model folder}).
    A copy that fails is a StageFailure of delivery that names the file, the bucket and key, S3's error code
    and what to do, instead of a bare step error.
    """
    delivered: dict[str, str] = {}
    names = folder.names(suffixes=DELIVERED_SUFFIXES) + [n for n in DELIVERED_NAMES if n in folder.manifest]
    for name in names:
        key = output_key(job, name)
        if len(key.encode()) > S3_KEY_MAX_BYTES:
            raise StageFailure(DELIVERY, _failure(name, bucket, key, "KeyTooLong", f"{len(key.encode())} bytes"))
        try:
            storage.copy_to(folder.key_of(name), bucket, key)
        except Exception as exc:  # S3 (ClientError, BotoCoreError) or the local file system (OSError)
            raise StageFailure(DELIVERY, _failure(name, bucket, key, _error_code(exc), str(exc))) from exc
        delivered[DELIVERED_NAMES.get(name) or name[name.rfind(".") :].lower()] = bucket.uri_of(key)
    for name in folder.names(under=SPARSE_MODEL):
        storage.copy_to(folder.key_of(name), bucket, output_key(job, name))
        delivered["sparse"] = bucket.uri_of(output_key(job, SPARSE_MODEL)) + "/"
    return delivered


with warnings.catch_warnings():  # the same backfill policy as the chain's (one job per run) is a beta parameter
    warnings.simplefilter("ignore", dg.BetaWarning)
    _delivery_asset = dg.asset(
        name=DELIVERY,
        ins={"spz": dg.AssetIn(input_manager_key=STORAGE)},
        partitions_def=job_partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(1),
        group_name=GROUP,
        kinds={"s3"},
        description="The .ply, .spz, .sog, .mp4, .png and cameras.json (training off: the points .ply and "
        "sparse/0/) copied to "
        "`<bucket>/<outputPrefix>/<uuid>/`; re-materialize it alone to deliver again without training.",
    )


@_delivery_asset
def delivery(
    context: dg.AssetExecutionContext,
    spz: StageFolder,
    storage: StageStorage,
    bucket: BucketResource,
    job_table: JobTableResource,
) -> dg.MaterializeResult:
    uuid = context.partition_key
    spec, _ = load_spec(job_table, uuid, {})
    delivered = deliver(spz, storage.store(), bucket.store(), spec)
    context.log.info(f"job {uuid}: delivered {', '.join(delivered.values()) or 'nothing'}")
    metadata = {"view": link(job_view_url(uuid)), "location": link(bucket.uri_of(output_key(spec, "")))}
    metadata.update({"delivered_" + suffix.lstrip("."): link(uri) for suffix, uri in delivered.items()})
    metadata["files"] = len(delivered)
    return dg.MaterializeResult(metadata=metadata)


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
    advice = _ADVICE.get(code, "check the bucket and the role's permissions, then re-materialize delivery")
    return (
        f"delivering {name} to {bucket.uri_of(key)} failed ({code}: {detail}). What to do: {advice}; the "
        "trained splat is kept in storage, so re-materializing delivery delivers it without training again"
    )
