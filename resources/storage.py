"""Where files live: a local directory or an S3 prefix, behind one small interface.

Two resources use it: `storage` (stage outputs, `<root>/<asset>/<uuid>/`) and `bucket` (the
deployment bucket the user uploads to: `media-input/`, `workflow-input/`, `workflow-output/`).
Keys are always '/'-separated and relative to the store's root. Nothing here pickles data: assets
exchange locations, and the stage processes read and write the files. This module is the interface
(`Store`), `open_store` and the resources; the two implementations are resources/local_store.py and
resources/s3_store.py, whose classes are importable from here too.
"""

from __future__ import annotations

import functools
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

LIST_PAGE = 1000  # S3's own page size; the local store pages the same way so both behave alike
PART_SUFFIX = ".part"  # a local write in progress: ".<name>.<pid>.part", renamed over <name> when complete


def _in_progress(name: str) -> bool:
    return name.startswith(".") and name.endswith(PART_SUFFIX)


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the store's root
    size: int
    etag: str  # changes when the object is written again (S3 ETag; local: mtime and size)
    modified: datetime  # timezone-aware UTC


@dataclass(frozen=True)
class ListPage:
    objects: list[ObjectInfo]
    truncated: bool  # more keys follow after the last one


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix")."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class Store(ABC):
    """A key space rooted at `uri`."""

    uri: str

    def uri_of(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key.lstrip('/')}" if key else self.uri

    @property
    def is_local(self) -> bool:
        return self.local_path("") is not None

    def local_path(self, key: str) -> Path | None:
        """The file system path of a key when the store is local, else None."""
        return None

    @abstractmethod
    def list_page(
        self, prefix: str, *, start_after: str = "", max_keys: int = LIST_PAGE, children_only: bool = True
    ) -> ListPage:
        """Objects under `prefix` in key order, after `start_after`; `children_only` skips deeper keys."""

    def iter_objects(self, prefix: str, *, children_only: bool = False) -> Iterator[ObjectInfo]:
        after = ""
        while True:
            page = self.list_page(prefix, start_after=after, children_only=children_only)
            yield from page.objects
            if not page.truncated or not page.objects:
                return
            after = page.objects[-1].key

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def read_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes of a non-empty object (what it holds, without fetching all of it)."""

    @abstractmethod
    def read_tail(self, key: str, size: int) -> bytes:
        """The last `size` bytes of a non-empty object (a zip's member list sits there)."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def upload_file(self, path: Path, key: str) -> None: ...

    @abstractmethod
    def download_file(self, key: str, path: Path) -> None: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int: ...

    def delete_keys(self, keys: list[str]) -> int:
        """Remove single objects (not prefixes); returns how many were asked for."""
        for key in keys:
            self.delete_prefix(key)
        return len(keys)

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def upload_dir(self, directory: Path, prefix: str, *, replace: bool = True) -> int:
        """Copy a directory tree under `prefix` (replacing what was there); returns the file count."""
        if replace:
            self.delete_prefix(prefix)
        count = 0
        for path in sorted(Path(directory).rglob("*")):
            if path.is_file():
                self.upload_file(path, _join(prefix, path.relative_to(directory).as_posix()))
                count += 1
        return count

    def download_dir(self, prefix: str, directory: Path) -> int:
        count = 0
        root = prefix.strip("/") + "/"
        for obj in self.iter_objects(root):
            self.download_file(obj.key, Path(directory) / obj.key[len(root) :])
            count += 1
        return count

    def copy_to(self, key: str, other: Store, other_key: str) -> None:
        """Copy one object to another store; subclasses copy server-side where they can."""
        with tempfile.TemporaryDirectory(prefix="gs-copy-") as tmp:
            path = Path(tmp) / "object"
            self.download_file(key, path)
            other.upload_file(path, other_key)


def open_store(root: str, *, endpoint_url: str | None = None, region: str | None = None) -> Store:
    """The store of `root`: an S3 prefix (resources/s3_store.py) or a local folder (resources/local_store.py)."""
    from gs_dagster.resources.local_store import LocalStore
    from gs_dagster.resources.s3_store import S3Store

    if root.startswith("s3://"):
        return S3Store(root, endpoint_url=endpoint_url, region=region)
    if "://" in root and not root.startswith("file://"):
        raise ValueError(f"storage root must be a local path or s3://bucket/prefix, got {root!r}")
    return LocalStore(root.removeprefix("file://"))


class StorageResource(dg.ConfigurableResource):
    """A local directory or `s3://bucket/prefix` (with an optional S3-compatible endpoint URL)."""

    root: str = Field(description="Local directory, or s3://bucket/prefix")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto, LocalStack)")
    region: str | None = Field(default=None, description="AWS region (default: AWS_REGION, then us-east-1)")
    name: str | None = Field(
        default=None,
        description="Bucket name jobs must name in s3.bucketName (default: the S3 bucket, or the directory's name)",
    )

    def store(self) -> Store:
        return _cached_store(self.root, self.endpoint_url, self.region)

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @property
    def bucket_name(self) -> str:
        if self.name:
            return self.name
        if self.is_s3:
            return split_s3_uri(self.root)[0]
        return Path(self.root).expanduser().resolve().name

    def uri_of(self, key: str) -> str:
        return self.store().uri_of(key)


class OutputsResource(StorageResource):
    """Where the stages' outputs live: `<stage>/<uuid>/` for frames, masks, sparse_model, splat and spz
    (GS_STORAGE_ROOT: a local folder, or an s3://bucket/prefix in AWS mode)."""

    web_url: str = Field(
        default="",
        description="http(s) URL that serves the storage root (GS_STORAGE_WEB_URL), e.g. a CDN in front of the "
        "bucket or `python -m http.server` on the folder: the splat's preview then shows inline in the UI, "
        "loaded from that URL",
    )

    def web_url_of(self, key: str) -> str | None:
        return f"{self.web_url.rstrip('/')}/{key}" if self.web_url else None


class BucketResource(StorageResource):
    """The deployment's bucket: media under `s3.inputPrefix`, job JSON under `workflow-input/` (what the
    intake sensor watches) and results under `s3.outputPrefix` (GS_BUCKET)."""


@functools.lru_cache(maxsize=32)
def _cached_store(root: str, endpoint_url: str | None, region: str | None) -> Store:
    return open_store(root, endpoint_url=endpoint_url, region=region)


def __getattr__(name: str) -> Any:
    """LocalStore, S3Store and s3_client from here as before the split (lazily: their modules import this one)."""
    if name == "LocalStore":
        from gs_dagster.resources import local_store

        return local_store.LocalStore
    if name in ("S3Store", "s3_client"):
        from gs_dagster.resources import s3_store

        return getattr(s3_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
