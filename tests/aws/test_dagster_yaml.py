"""infra/dagster.yaml: a valid Dagster instance config (schema, then each configurable class's own config)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer

from gs_dagster.resources.sagemaker import GPU_POOL

YAML = Path(__file__).resolve().parents[2] / "infra" / "dagster.yaml"
PG_ENV = {
    "DAGSTER_PG_HOST": "db.example.internal",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "secret",
    "DAGSTER_PG_DB": "dagster",
}


@pytest.fixture()
def instance_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    shutil.copy(YAML, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    return dict(config)


def _valid(config_type, value) -> None:
    result = process_config(config_type, value)
    assert result.success, [e.message for e in result.errors]


def test_postgres_storage(instance_config):
    postgres = pytest.importorskip("dagster_postgres", reason="dagster-postgres==0.29.27 is not installed")
    _valid(postgres.DagsterPostgresStorage.config_type(), instance_config["storage"]["postgres"])
    assert instance_config["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}


def test_run_coordinator_and_launcher(instance_config):
    for key in ("run_coordinator", "run_launcher"):
        entry = instance_config[key]
        klass = class_from_code_pointer(entry["module"], entry["class"])
        _valid(klass.config_type(), entry.get("config", {}))
    assert instance_config["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_gpu_pool_is_capped(instance_config):
    pools = instance_config["concurrency"]["pools"]
    assert pools["granularity"] == "op" and pools["default_limit"] >= 1
    assert f'pool="{GPU_POOL}"' in YAML.read_text()
