"""Storage: a local folder and an S3 prefix (moto, real HTTP) behave alike: key order, paging, directories."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import boto3
import pytest

from gs_dagster.resources.storage import LocalStore, S3Store, Store, open_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "root")
    endpoint = request.getfixturevalue("moto_env")
    bucket = f"gs-store-{uuidlib.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return open_store(f"s3://{bucket}/some/prefix", endpoint_url=endpoint)


def test_listing_pages_in_key_order_children_only(store: Store) -> None:
    names = [f"workflow-input/{uuidlib.uuid4()}.json" for _ in range(25)]
    for name in names:
        store.write_bytes(name, b"{}")
    store.write_bytes("workflow-input/nested/deeper.json", b"{}")
    seen, after = [], ""
    while True:
        page = store.list_page("workflow-input/", start_after=after, max_keys=10)
        seen += [o.key for o in page.objects]
        if not page.truncated:
            break
        after = page.objects[-1].key
    assert seen == sorted(names)  # direct children only, in key order, nothing twice
    info = store.head(names[0])
    assert info is not None and info.size == 2 and info.etag and info.modified.tzinfo is not None
    assert store.head("workflow-input/missing.json") is None


def test_directories_round_trip_and_replace(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "out"
    (source / "images").mkdir(parents=True)
    (source / "images" / "000000.jpg").write_bytes(b"jpg")
    (source / "metrics.json").write_text("{}")
    assert store.upload_dir(source, "frames/job") == 2
    (source / "metrics.json").unlink()
    assert store.upload_dir(source, "frames/job") == 1  # replaced, the stale file is gone
    back = tmp_path / "back"
    assert store.download_dir("frames/job", back) == 1
    assert (back / "images" / "000000.jpg").read_bytes() == b"jpg"
    assert store.delete_prefix("frames/job") == 1 and not store.exists("frames/job/images/000000.jpg")


def test_copy_between_stores(store: Store, tmp_path: Path) -> None:
    store.write_bytes("spz/job/job.spz", b"spz")
    local = LocalStore(tmp_path / "bucket")
    store.copy_to("spz/job/job.spz", local, "workflow-output/job/job.spz")
    assert local.read_bytes("workflow-output/job/job.spz") == b"spz"
    if isinstance(store, S3Store):  # S3 to S3: server-side copy
        store.copy_to("spz/job/job.spz", store, "workflow-output/job/job.spz")
        assert store.read_bytes("workflow-output/job/job.spz") == b"spz"
    assert store.uri_of("spz/job/job.spz").endswith("spz/job/job.spz")


def test_local_keys_cannot_leave_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalStore(tmp_path).local_path("../outside")
