"""Watching a job: progress in the event log while it trains, `gs-dagster status` columns, results that read
well, and a re-run changed through typed run config.

One real job (local Pipes subprocess, 400 CPU training steps) runs in a worker thread while this thread polls
the Dagster instance as the UI would, ticks the run-started sensor as the daemon would, and calls the status
CLI. Everything seen mid-run is kept in a `Watch` for the tests below.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import itertools
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from gs_testkit import TEST_OPTIONS, dagster_home, local_config, materialized, runner_for

from gs_dagster import cli
from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.progress_relay import update_of
from gs_dagster.submit import submit

TRAIN_STEPS = 400


@dataclass
class Watch:
    config: Any
    instance: dg.DagsterInstance
    runner: Any
    uuid: str
    run_id: str = ""
    success: bool = False
    seen_while_running: list[dict[str, Any]] = field(default_factory=list)  # progress observations, in order
    status_before_sensor: str = ""  # `gs-dagster status` while splat trained, before the run-started sensor ran
    status_table: str = ""  # `gs-dagster status` while splat trained
    status_job: str = ""  # `gs-dagster status UUID`
    status_json: dict[str, Any] = field(default_factory=dict)
    materialized_while_training: list[str] = field(default_factory=list)  # stages in the event log by then


def _cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(args)) == 0
    return out.getvalue()


def _progress(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, Any]]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION).records
    found = []
    for record in records:
        metadata = {k: v.value for k, v in record.event_log_entry.asset_observation.metadata.items()}
        if update_of(metadata) is not None:
            found.append(metadata)
    return found


def _splat_materialized(instance: dg.DagsterInstance, run_id: str) -> bool:
    return "splat" in materialized(instance, run_id)


@pytest.fixture(scope="module")
def watch(tmp_path_factory: pytest.TempPathFactory, sample_zip: Path) -> Iterator[Watch]:
    root = tmp_path_factory.mktemp("watch")
    home = dagster_home(root)
    environ = {"GS_DATA_DIR": str(root / "data"), "DAGSTER_HOME": str(home)}
    cleared = ("GS_BUCKET", "GS_STORAGE_ROOT", "GS_JOB_TABLE", "GS_NOTIFIER", "GS_OUTBOX", "AWS_ENDPOINT_URL")
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.local_temp(str(home)) as instance:
        for name in cleared:
            patch.delenv(name, raising=False)
        for name, value in environ.items():
            patch.setenv(name, value)
        config = local_config(root / "data", progress_interval_s=0.5)
        runner = runner_for(config, instance)
        job = submit(sample_zip, config=config, options={**TEST_OPTIONS, "training.maxSteps": TRAIN_STEPS})
        watch = Watch(config, instance, runner, job.uuid)
        results: list[Any] = []
        worker = threading.Thread(target=lambda: results.extend(runner.process()), daemon=True)
        worker.start()
        deadline = time.monotonic() + 600
        while worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
            runs = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=1)
            if not runs:
                continue
            run_id = runs[0].dagster_run.run_id
            if _splat_materialized(instance, run_id):
                continue  # training is over: what counts is what was seen before
            seen = _progress(instance, run_id)
            training = [m for m in seen if m["progress/phase"] == "training" and 0 < m["progress/step"] < TRAIN_STEPS]
            if len(training) >= 2 and not watch.status_table:
                watch.status_before_sensor = _cli("status")  # the record says SUBMITTED: the run is found anyway
                runner.report_run(run_id)  # the run-started sensor's tick, as the daemon would: RUNNING, run id
                watch.status_table = _cli("status")
                watch.status_job = _cli("status", job.uuid)
                watch.status_json = json.loads(_cli("status", job.uuid, "--json"))
                still_training = instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
                if still_training and not _splat_materialized(instance, run_id):
                    watch.seen_while_running = seen
                    watch.materialized_while_training = materialized(instance, run_id)
        worker.join(timeout=600)
        (result,) = results
        watch.run_id, watch.success = result.run_id, result.success
        yield watch


def test_training_progress_is_in_the_event_log_while_the_run_executes(watch: Watch) -> None:
    assert watch.success
    seen = watch.seen_while_running
    assert seen, "no progress observation was seen while splat was training"
    training = [m for m in seen if m["progress/stage"] == "splat" and m["progress/phase"] == "training"]
    assert len(training) >= 2 and training[0]["progress/step"] == 0  # the first always
    middle = training[-1]
    assert 0 < middle["progress/step"] < TRAIN_STEPS and middle["progress/total"] == TRAIN_STEPS
    assert middle["progress/loss"] > 0 and middle["progress/Gaussians"] > 0 and middle["progress/eta_s"] >= 0
    assert re.search(
        rf"splat training: step [\d,]+/{TRAIN_STEPS} \(\d+%\), loss [\d.]+, [\d,]+ Gaussians", middle["progress/text"]
    )
    # Each earlier stage was materialized when it finished, not at the end of the launch.
    assert watch.materialized_while_training == ["frames", "masks", "sparse_model"]
    # SfM's phases came before, each with its start and end.
    phases = [(m["progress/stage"], m["progress/phase"]) for m in seen]
    for phase in ("features", "exhaustive matching", "mapping"):
        assert ("sparse_model", phase) in phases, phases

    # After the run: the last step was sent, the rate stayed throttled, and the log holds the same text.
    final = _progress(watch.instance, watch.run_id)
    steps = [m["progress/step"] for m in final if m["progress/phase"] == "training"]
    assert steps[0] == 0 and steps[-1] == TRAIN_STEPS
    # Throttled by time (0.5 s here), not one per step: between two updates at least the interval, bar the last.
    elapsed = [m["progress/elapsed_s"] for m in final if m["progress/phase"] == "training"]
    assert len(steps) <= elapsed[-1] / 0.5 + 2  # bounded by time, whatever a step costs on this machine
    assert all(later - earlier >= 0.4 for earlier, later in itertools.pairwise(elapsed[:-1])), elapsed
    logged = [e.user_message for e in watch.instance.all_logs(watch.run_id) if "splat training: step" in e.user_message]
    assert len(logged) == len(steps)


def test_status_shows_the_stage_step_and_eta_of_a_running_job(watch: Watch) -> None:
    assert watch.status_table, "status was not captured while training"
    header, *rows = watch.status_table.splitlines()
    assert header.split()[-3:] == ["stage", "step", "ETA"]
    (row,) = [r for r in rows if r.startswith(watch.uuid)]
    assert re.search(rf"RUNNING .* splat training\s+[\d,]+/{TRAIN_STEPS}\s+(\d+m )?\d+s$", row), row
    assert re.search(rf"now: splat training: step [\d,]+/{TRAIN_STEPS} .*ETA", watch.status_job), watch.status_job
    (early,) = [r for r in watch.status_before_sensor.splitlines() if r.startswith(watch.uuid)]
    assert re.search(rf"SUBMITTED .* splat training\s+[\d,]+/{TRAIN_STEPS}\s+(\d+m )?\d+s$", early), early
    progress = watch.status_json["progress"]
    assert progress["stage"] == "splat training" and progress["step"].endswith(f"/{TRAIN_STEPS}")
    # A finished job has no position.
    table = _cli("status")
    (row,) = [r for r in table.splitlines() if r.startswith(watch.uuid)]
    assert "COMPLETE" in row and "training" not in row


def test_results_read_headline_first_with_the_labelled_preview_and_links(watch: Watch) -> None:
    records = watch.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("splat"), asset_partitions=[watch.uuid]), limit=1
    ).records
    metadata = records[0].asset_materialization.metadata
    names = list(metadata)
    assert names[:3] == ["psnr", "ssim", "num_gaussians"]  # lpips is absent here: it stays in details
    # The storage IO manager's handle (its path; files and bytes of the stage folder) follows the asset's own.
    assert names[-5:] == ["details", "run", "path", "files", "bytes"] and len(names) <= 17
    preview = metadata["preview"].value
    assert "**ground truth** (left) | **render** (right)" in preview and "](data:image/jpeg;base64," in preview
    splat_dir = Path(watch.config.storage_root) / "splat" / watch.uuid
    assert metadata["location"].value == splat_dir.as_uri()
    assert metadata["preview_image"].value == (splat_dir / "preview.png").as_uri()
    details = metadata["details"].value
    assert details["backend"] and details["lpips"] is None and "preview_file" not in details
    assert metadata["run"].value["uuid"] == watch.uuid and metadata["run"].value["overrides"] == {}
    # The job record and the notice keep plain paths.
    record = open_job_table(watch.config.job_table).get(watch.uuid)
    assert record.outputs["splat"] == str(splat_dir) and not record.outputs[".spz"].startswith("file:")


def test_typed_run_config_reaches_the_stage_spec(watch: Watch) -> None:
    result = watch.runner.run_job(
        watch.uuid,
        selection=["splat"],
        run_config={"ops": {"reconstruction": {"config": {"training": {"model": "splatfacto-mcmc", "max_steps": 12}}}}},
    )
    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "splat"]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["steps"] == 12 and metadata["details"]["model"] == "splatfacto-mcmc"
    assert metadata["run"]["overrides"] == {"training.model": "splatfacto-mcmc", "training.maxSteps": 12}
    stored = json.loads((Path(watch.config.storage_root) / "splat" / watch.uuid / "metrics.json").read_text())
    assert stored["model"] == "splatfacto-mcmc" and stored["steps"] == 12


def test_typed_run_config_and_overrides_that_disagree_are_refused(watch: Watch) -> None:
    config = {"training": {"max_steps": 12}, "overrides": {"training.maxSteps": 30}}
    result = watch.runner.run_job(
        watch.uuid, selection=["splat"], run_config={"ops": {"reconstruction": {"config": config}}}
    )
    assert not result.success
    message = result.failure_data_for_node("reconstruction").error.message
    assert "training.maxSteps twice" in message


def test_the_launchpad_offers_typed_fields_with_choices_and_defaults(watch: Watch) -> None:
    job = watch.runner.defs.resolve_job_def("reconstruct")
    fields = job.run_config_schema.config_type.fields["ops"].config_type.fields["reconstruction"]
    config = fields.config_type.fields["config"].config_type.fields
    model = config["training"].config_type.fields["model"]
    assert [v.config_value for v in model.config_type.enum_values] == [
        "job's value",
        "splatfacto",
        "splatfacto-big",
        "splatfacto-mcmc",
        "splatfacto-w-light",
        "3dgut",
    ]
    assert model.default_value == "job's value"
    assert config["training"].config_type.fields["max_steps"].default_value is None
    matching = config["sfm"].config_type.fields["matching_method"].config_type
    assert "exhaustive" in [v.config_value for v in matching.enum_values]


def test_with_a_web_url_for_the_storage_the_preview_is_short_enough_to_show_inline(watch: Watch) -> None:
    storage = Path(watch.config.storage_root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(storage))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        runner = runner_for(watch.config.with_(storage_web_url=base), watch.instance)
        config = {"training": {"max_steps": 10}}
        result = runner.run_job(
            watch.uuid, selection=["splat"], run_config={"ops": {"reconstruction": {"config": config}}}
        )
        assert result.success
        (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "splat"]
        metadata = event.materialization.metadata
        url = f"{base}/splat/{watch.uuid}/preview.png"
        preview = metadata["preview"].value
        assert preview.endswith(f"![ground truth | render]({url})") and "**ground truth** (left)" in preview
        assert len(preview) < 1000  # the UI's limit for showing markdown inline
        assert metadata["preview_image"].value == url
        with urllib.request.urlopen(url) as response:  # the link the UI loads is the stored preview
            assert response.read() == (storage / "splat" / watch.uuid / "preview.png").read_bytes()
        server.shutdown()
