"""The five stage assets as ONE subsettable multi-asset: whatever stages of a job a run selects are
launched together (`gs_stages chain --stages <selected>`), so a remote launcher starts one container
per run, not one per stage. Each stage's spec lives in its own module (`assets/frames.py`, ...).

Configuration comes from the job's spec stored in the job table when the job was submitted, so a
re-materialization reproduces the same result; a run may change options (typed fields such as
`training.model` with their choices, or any JSON path in `overrides`: assets/run_config.py) and engine
settings (`settings`). Outputs stay in storage at `<root>/<asset>/<uuid>/`; each stage's output is a
`StageFolder` handle (the folder's URI and manifest) that the `storage` IO manager keeps
(resources/stage_folders.py), so no image or splat bytes pass through this process and downstream
assets (assets/delivery.py) get the folder as their input. Metrics reach Dagster as metadata
(assets/results.py orders them for reading), and the stages' progress as observations while they run.
"""

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import dagster as dg

from gs_dagster.assets import frames, masks, sparse_model, splat, spz
from gs_dagster.assets.checks import CHECK_SPECS, QualityChecksResource, evaluate_stored
from gs_dagster.assets.results import preview_key, result_metadata
from gs_dagster.assets.run_config import StageRunConfig
from gs_dagster.partitions import job_partitions
from gs_dagster.resources.job_table import JobTableResource
from gs_dagster.resources.launcher import StageFailure, StageLauncher, StageLocations
from gs_dagster.resources.sagemaker import GPU_POOL
from gs_dagster.resources.stage_folders import StageStorage, stage_folder
from gs_dagster.resources.storage import StorageResource
from gs_stages.jobspec import JobSpec, JobSpecError, parse_job
from gs_stages.progress import INTERVAL_EXTRA
from gs_stages.report import CHECKS_EXTRA
from gs_stages.stage import STAGE_ORDER, StageError, check_settings

STORAGE = "storage"  # the resource key of the stage storage, also the chain's IO manager

#: The stages' outputs go through the `storage` IO manager as StageFolder handles (by reference).
STAGE_SPECS = [
    s.with_io_manager_key(STORAGE) for s in (frames.spec, masks.spec, sparse_model.spec, splat.spec, spz.spec)
]
STAGE_KEYS = [s.key for s in STAGE_SPECS]


def load_spec(job_table: JobTableResource, uuid: str, overrides: dict[str, Any]) -> tuple[JobSpec, str]:
    """The job's stored spec with this run's overrides, and the digest of what the stages will see."""
    record = job_table.table().get(uuid)
    if record is None:
        raise dg.Failure(f"no job {uuid!r} in the job table: submit it (gs-dagster submit) before materializing")
    if not record.spec:
        raise dg.Failure(f"job {uuid!r} has no valid spec (status {record.status}): {record.error}")
    try:
        spec = parse_job(record.spec)
        if overrides:
            spec = spec.with_overrides(overrides)
    except JobSpecError as exc:
        raise dg.Failure(f"run config overrides make job {uuid!r} invalid:\n{exc}") from None
    digest = hashlib.sha256(json.dumps(spec.to_json(), sort_keys=True).encode()).hexdigest()
    return spec, digest


def check_run_settings(settings: dict[str, Any]) -> None:
    """Refuse a mistyped engine setting in the run config before anything launches: the stage would
    refuse it too, but only once its process (on SageMaker: a paid container) has started."""
    try:
        check_settings(settings, where="engine setting in the run config (ops.reconstruction.config.settings)")
    except StageError as exc:
        raise dg.Failure(str(exc)) from None


@dg.multi_asset(
    name="reconstruction",
    specs=STAGE_SPECS,
    check_specs=CHECK_SPECS,
    can_subset=True,
    partitions_def=job_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(1),
    pool=GPU_POOL,  # caps concurrent launches (GPU jobs in AWS mode): `dagster instance concurrency set gpu N`
    description="frames -> masks -> sparse_model -> splat -> spz of one job; selected stages run in one launch.",
)
def reconstruction(
    context: dg.AssetExecutionContext,
    config: StageRunConfig,
    storage: StageStorage,
    bucket: StorageResource,
    job_table: JobTableResource,
    launcher: StageLauncher,
    quality: QualityChecksResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.AssetObservation]:
    uuid = context.partition_key
    overrides = config.job_overrides()
    spec, digest = load_spec(job_table, uuid, overrides)
    check_run_settings(config.settings)
    stages = [s for s in STAGE_ORDER if dg.AssetKey(s) in context.selected_asset_keys]
    checks = quality.requests(context.selected_asset_check_keys)
    store = storage.store()
    run_facts: dict[str, Any] = {
        "uuid": uuid,
        "spec_sha256": digest,
        "overrides": overrides,
        "launched_stages": ",".join(stages),
    }
    if config.settings:
        run_facts["settings"] = config.settings

    def finish(result: dg.MaterializeResult) -> dg.Output:
        """The stage's output handle for the IO manager, its metadata in reading order (assets/results.py)."""
        stage = result.asset_key.to_user_string()
        reported = dict(result.metadata or {})
        links = {"location": store.uri_of(f"{stage}/{uuid}")}
        preview = None
        key = preview_key(stage, uuid, reported)
        web = storage.web_url_of(key) if key is not None else None
        if key is not None:
            links["preview_image"] = web or store.uri_of(key)
        if key is not None and web is None:  # no URL the UI can load it from: the image goes inline as data
            try:
                preview = store.read_bytes(key)
            except Exception as exc:  # the materialization stands without its picture
                context.log.warning(f"job {uuid}: the {stage} preview {store.uri_of(key)} is not readable: {exc}")
        metadata = result_metadata(stage, reported, links=links, run=run_facts, preview=preview, preview_url=web)
        folder = stage_folder(store, stage, uuid)
        return dg.Output(folder, output_name=stage, metadata=metadata, data_version=result.data_version)

    failure: StageFailure | None = None
    reported: set[str] = set()
    checked: set[dg.AssetCheckKey] = set()
    if stages:
        context.log.info(f"job {uuid}: launching {', '.join(stages)} with {type(launcher).__name__}")
        locations = StageLocations(
            root=storage.root,
            media=bucket.uri_of(spec.s3.media_key),
            endpoint_url=storage.endpoint_url,
            region=storage.region,
        )
        extras = {
            CHECKS_EXTRA: [c.to_extra() for c in checks if c.stage in stages],
            INTERVAL_EXTRA: launcher.progress_interval_s,
        }
        try:
            for result in launcher.launch(context, stages, spec, locations, settings=config.settings, extras=extras):
                # Progress, into the event log as it comes, and failed attempts (the last good output stays).
                if isinstance(result, dg.AssetCheckResult):
                    checked.add(dg.AssetCheckKey(result.asset_key, result.check_name))
                elif isinstance(result, dg.MaterializeResult):
                    reported.add(result.asset_key.to_user_string() if result.asset_key else "")
                    yield finish(result)
                    continue
                yield result
        except StageFailure as exc:
            failure = exc
    if failure is not None:  # what finished is recorded (and handed on); nothing is delivered
        raise failure

    # Stages that finished without reporting (a launcher without Pipes reporting) still materialize,
    # and checks the stage process did not judge (or selected without their asset) judge the stored output.
    # Delivery is its own asset downstream of spz (assets/delivery.py): a failed blocking check skips it.
    for stage in stages:
        if stage not in reported:
            yield finish(dg.MaterializeResult(asset_key=stage))
    for request in checks:
        if request.key not in checked:
            yield evaluate_stored(request, store, uuid)
