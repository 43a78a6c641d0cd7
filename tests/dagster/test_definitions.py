"""The code location loads (`dagster definitions validate -w workspace.yaml`) and has the promised shape."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from gs_dagster.config import GsConfig, project_dir
from gs_dagster.definitions import build_definitions
from gs_dagster.resources.launcher import StageLauncher, external_inputs, ordered_stages
from gs_dagster.resources.local_launcher import LocalPipesLauncher
from gs_dagster.resources.stage_folders import StageStorage

STAGES = ["frames", "masks", "sparse_model", "splat", "spz"]


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), GS_DATA_DIR=str(tmp_path / "data"))
    (tmp_path / "home").mkdir()
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=project_dir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_asset_graph_is_the_five_stages_partitioned_by_job(tmp_path: Path) -> None:
    defs = build_definitions(GsConfig.from_env({"GS_DATA_DIR": str(tmp_path)}))
    graph = defs.resolve_asset_graph()
    keys = [dg.AssetKey(s) for s in STAGES]
    assert set(graph.get_all_asset_keys()) == {*keys, dg.AssetKey("delivery")}
    for upstream, downstream in itertools.pairwise(STAGES):
        assert dg.AssetKey(upstream) in graph.get(dg.AssetKey(downstream)).parent_keys
    for key in keys:
        partitions = graph.get(key).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name == "jobs"

    # One subsettable multi-asset: a run's selected stages execute in one step (one launch).
    (assets_def,) = {graph.get(k).assets_def for k in keys}
    assert assets_def.can_subset and set(assets_def.keys) == set(keys)
    # By reference: every stage output goes to the `storage` IO manager (a StageFolder handle, never bytes),
    # and delivery, downstream of spz, gets spz's handle from it.
    outputs = [assets_def.op.output_def_named(assets_def.get_output_name_for_asset_key(k)) for k in keys]
    assert {out.io_manager_key for out in outputs} == {"storage"}
    assert isinstance(defs.resources["storage"], StageStorage)
    delivery = graph.get(dg.AssetKey("delivery"))
    assert delivery.parent_keys == {dg.AssetKey("spz")} and delivery.partitions_def == partitions
    assert delivery.assets_def.op.input_def_named("spz").input_manager_key == "storage"
    checks = {(c.asset_key.to_user_string(), c.name): c for c in assets_def.check_specs}
    assert set(checks) == {
        ("sparse_model", "registered_ratio"),
        ("splat", "heldout_psnr"),
        ("spz", "spz_reads_back"),
    }
    assert all(c.blocking for c in checks.values())

    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) >= {"job_intake", "job_started", "job_succeeded", "job_failed", "job_canceled"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    assert defs.resolve_job_def("reconstruct").partitions_def.name == "jobs"


def test_launcher_interface() -> None:
    # The interface another launcher (SageMaker) implements; the local one is the default.
    assert issubclass(LocalPipesLauncher, StageLauncher)
    assert ordered_stages(["spz", "frames", "splat"]) == ["frames", "splat", "spz"]
    assert external_inputs(["splat", "spz"]) == ["frames", "sparse_model", "masks"]
    assert external_inputs(["frames", "masks", "sparse_model", "splat", "spz"]) == []


def test_configuration_from_environment(tmp_path: Path) -> None:
    local = GsConfig.from_env({"GS_DATA_DIR": str(tmp_path)})
    assert not local.aws_mode and local.job_table.startswith("sqlite:///") and local.notifier == "log"
    assert local.storage_root == str(tmp_path / "storage") and local.bucket_name == "gs-local"
    aws = GsConfig.from_env(
        {
            "GS_BUCKET": "s3://my-bucket",
            "GS_NOTIFIER": "arn:aws:sns:us-east-1:123456789012:jobs",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "GS_INSTANCE_TYPES": "ml.p4d.24xlarge",
            "GS_STAGE_SETTINGS": '{"max_image_side": 800}',
        }
    )
    assert aws.aws_mode and aws.storage_root == "s3://my-bucket/gs-storage"
    assert aws.job_table == "dynamodb://gs-dagster-jobs" and aws.endpoint_url == "http://127.0.0.1:5000"
    assert "ml.p4d.24xlarge" in aws.instance_types and aws.stage_settings == {"max_image_side": 800}
    resources = aws.resources()
    assert resources["bucket"].bucket_name == "my-bucket"


def test_psnr_bars_from_environment(tmp_path: Path) -> None:
    """Two bars: GS_MIN_PSNR_DB blocks a broken splat, GS_WARN_PSNR_DB warns on a weak one."""
    default = GsConfig.from_env({"GS_DATA_DIR": str(tmp_path)}).resources()["quality"]
    assert (default.min_psnr_db, default.warn_psnr_db) == (12.0, 20.0)
    quality = GsConfig.from_env(
        {"GS_DATA_DIR": str(tmp_path), "GS_MIN_PSNR_DB": "10.5", "GS_WARN_PSNR_DB": "24"}
    ).resources()["quality"]
    (request,) = quality.requests([dg.AssetCheckKey(dg.AssetKey("splat"), "heldout_psnr")])
    assert request.params == {"min_psnr": 10.5, "warn_psnr": 24.0}
    with pytest.raises(ValueError, match="GS_WARN_PSNR_DB must be a number, got 'high'"):
        GsConfig.from_env({"GS_DATA_DIR": str(tmp_path), "GS_WARN_PSNR_DB": "high"})


def test_bad_numbers_in_the_environment_are_refused_together_naming_each_variable(tmp_path: Path) -> None:
    """One typed model (gs_dagster/env_settings.py): every bad variable in one error, with what it must be."""
    env = {
        "GS_DATA_DIR": str(tmp_path),
        "GS_SENSOR_INTERVAL_S": "2.5",
        "GS_MEDIA_WAIT_S": "-1",
        "GS_MIN_REGISTERED_RATIO": "1.5",
        "GS_LAUNCHER": "kubernetes",
        "GS_PROGRESS_INTERVAL_S": "",  # empty: the default
    }
    with pytest.raises(ValueError) as refused:
        GsConfig.from_env(env)
    lines = str(refused.value).splitlines()
    assert lines == [
        "GS_MEDIA_WAIT_S must be at least 0, got '-1'",
        "GS_SENSOR_INTERVAL_S must be a whole number, got '2.5'",
        "GS_MIN_REGISTERED_RATIO must be at most 1, got '1.5'",
        "GS_LAUNCHER must be one of 'local' or 'sagemaker', got 'kubernetes'",
    ]
    config = GsConfig.from_env({"GS_DATA_DIR": str(tmp_path), "GS_LAUNCHER": " Local ", "GS_SENSOR_INTERVAL_S": "7"})
    assert (config.launcher, config.sensor_interval_s, config.progress_interval_s) == ("local", 7, 20.0)
