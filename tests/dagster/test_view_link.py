"""A job reconstructed on the embedded default shows up in `gs-dagster view`'s library with its capture
cameras, and its spz materialization in the Dagster UI links to that job's viewer."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import TEST_OPTIONS, local_config, runner_for

from gs_dagster.submit import submit
from gs_dagster.viewer.library import Library


@pytest.mark.slow  # a whole reconstruction, ~40 s
def test_a_finished_job_is_in_the_library_and_linked_from_its_spz(
    tmp_path: Path, instance: dg.DagsterInstance, sample_zip: Path, monkeypatch
) -> None:
    monkeypatch.setenv("GS_VIEWER_URL", "http://127.0.0.1:4321/")
    config = local_config(tmp_path / "data")
    runner = runner_for(config, instance)
    job = submit(sample_zip, config=config, options=TEST_OPTIONS)
    (result,) = runner.process()
    assert result.success

    (record,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("delivery"), asset_partitions=[job.uuid]), limit=1
    ).records
    link = record.asset_materialization.metadata["view"]
    assert isinstance(link, dg.UrlMetadataValue)
    assert link.url == f"http://127.0.0.1:4321/view.html?job={job.uuid}"

    entry = Library.open(config).job(job.uuid)
    assert entry["status"] == "COMPLETE" and entry["name"] == sample_zip.name
    assert entry["view_url"] == f"/view.html?job={job.uuid}" and entry["gaussians"] > 0
    assert {d["name"] for d in entry["downloads"]} == {f"{job.uuid}.{k}" for k in ("spz", "ply", "mp4", "png")}
    assert entry["thumbnail_url"] == f"/files/{job.uuid}/{job.uuid}.png"  # the delivered thumbnail
    cameras = json.loads((Path(config.storage_root) / "spz" / job.uuid / "cameras.json").read_text())
    assert cameras["axes"] == "as the .ply and .spz"
    assert len(cameras["cameras"]) == 16  # every registered view of the sample, training and held out
