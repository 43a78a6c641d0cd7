"""Where files live: a local directory or an S3 prefix, behind one small interface.

Two resources use it: `storage` (stage outputs, `<root>/<asset>/<uuid>/`) and `bucket` (the
deployment bucket the user uploads to: `media-input/`, `workflow-input/`, `workflow-output/`).
Keys are always '/'-separated and relative to the store's root. Nothing here pickles data: assets
exchange locations, and the stage processes read and write the files.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from gs_stages import s3_files

#: S3 error codes of a missing object (a missing bucket is an error), and of a refused request.
MISSING = ("404", "NoSuchKey", "NotFound")
DENIED = s3_files.DENIED_CODES
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


class LocalStore(Store):
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def local_path(self, key: str) -> Path:
        path = (self.root / key.strip("/")).resolve() if key else self.root
        if path != self.root and self.root not in path.parents:
            raise ValueError(f"key {key!r} leaves the store root {self.root}")
        return path

    @staticmethod
    def _info(key: str, stat: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def list_page(
        self, prefix: str, *, start_after: str = "", max_keys: int = LIST_PAGE, children_only: bool = True
    ) -> ListPage:
        # Keys under a directory prefix ("workflow-input/"), hidden ones too, as S3 lists them; only this
        # store's own writes in progress (".<name>.<pid>.part", renamed when complete) are skipped.
        directory = self.local_path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        base = prefix.strip("/")
        if not directory.is_dir():
            return ListPage([], False)
        if children_only:
            names = sorted(
                _join(base, e.name) for e in os.scandir(directory) if e.is_file() and not _in_progress(e.name)
            )
        else:
            names = sorted(
                _join(base, p.relative_to(directory).as_posix())
                for p in directory.rglob("*")
                if p.is_file() and not _in_progress(p.name)
            )
        names = [n for n in names if n > start_after]
        objects = []
        for name in names[:max_keys]:
            try:
                objects.append(self._info(name, (self.root / name).stat()))
            except FileNotFoundError:  # removed while listing
                continue
        return ListPage(objects, len(names) > max_keys)

    def head(self, key: str) -> ObjectInfo | None:
        path = self.local_path(key)
        return self._info(key, path.stat()) if path.is_file() else None

    def read_bytes(self, key: str) -> bytes:
        return self.local_path(key).read_bytes()

    def read_head(self, key: str, size: int) -> bytes:
        with self.local_path(key).open("rb") as handle:
            return handle.read(size)

    def _atomic(self, key: str) -> tuple[Path, Path]:
        target = self.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A hidden temp name in the same directory: listings skip it, the rename is atomic.
        return target, target.parent / f".{target.name}.{os.getpid()}{PART_SUFFIX}"

    def write_bytes(self, key: str, data: bytes) -> None:
        target, part = self._atomic(key)
        part.write_bytes(data)
        part.replace(target)

    def upload_file(self, path: Path, key: str) -> None:
        target, part = self._atomic(key)
        if Path(path).resolve() == target:
            return
        shutil.copyfile(path, part)
        part.replace(target)

    def download_file(self, key: str, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.local_path(key), path)

    def delete_prefix(self, prefix: str) -> int:
        path = self.local_path(prefix.rstrip("/"))
        if path == self.root:
            raise ValueError("refusing to delete the whole store")
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path)
            return count
        if path.is_file():
            path.unlink()
            return 1
        return 0

    def upload_dir(self, directory: Path, prefix: str, *, replace: bool = True) -> int:
        if Path(directory).resolve() == self.local_path(prefix):
            return sum(1 for p in Path(directory).rglob("*") if p.is_file())
        return super().upload_dir(directory, prefix, replace=replace)

    def copy_to(self, key: str, other: Store, other_key: str) -> None:
        other.upload_file(self.local_path(key), other_key)


@functools.lru_cache(maxsize=16)
def s3_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """One boto3 client per endpoint (clients are thread-safe); unset, the endpoint and region come from the
    environment as in the stage processes (gs_stages.s3_files.client)."""
    return s3_files.client(endpoint_url, region, max_pool_connections=16)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3Store(Store):
    def __init__(self, uri: str, *, endpoint_url: str | None = None, region: str | None = None):
        self.bucket, self.prefix = split_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint_url = endpoint_url
        self.client = s3_client(endpoint_url, region)

    def _key(self, key: str) -> str:
        return _join(self.prefix, key)

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def list_page(
        self, prefix: str, *, start_after: str = "", max_keys: int = LIST_PAGE, children_only: bool = True
    ) -> ListPage:
        full_prefix = self._key(prefix) + ("/" if prefix.endswith("/") else "")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full_prefix, "MaxKeys": max_keys}
        if children_only:
            kwargs["Delimiter"] = "/"
        if start_after:
            kwargs["StartAfter"] = self._key(start_after)
        response = self.client.list_objects_v2(**kwargs)
        objects = [
            ObjectInfo(
                key=self._rel(item["Key"]),
                size=item["Size"],
                etag=item.get("ETag", "").strip('"'),
                modified=item["LastModified"],
            )
            for item in response.get("Contents", [])
        ]
        return ListPage(objects, bool(response.get("IsTruncated")))

    def head(self, key: str) -> ObjectInfo | None:
        """The object, or None when there is none. S3 answers a HEAD of a missing key with 403 rather than 404
        unless s3:ListBucket is granted without an s3:prefix condition (a HEAD carries no prefix), which the
        Terraform does not grant: a 403 is settled by listing the key as a prefix, which the condition allows."""
        from botocore.exceptions import ClientError

        try:
            item = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            if _code(exc) not in DENIED:
                raise
            return self._listed(key, exc)
        return ObjectInfo(key, item["ContentLength"], item.get("ETag", "").strip('"'), item["LastModified"])

    def _listed(self, key: str, denied: Exception) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        except ClientError as exc:
            raise PermissionError(
                f"s3://{self.bucket}/{self._key(key)}: HEAD and a listing under the key were refused "
                f"({_code(denied)}, {_code(exc)}); the role needs s3:ListBucket for this prefix and s3:GetObject on it"
            ) from exc
        items = [i for i in response.get("Contents", []) if i["Key"] == self._key(key)]
        if not items:
            return None
        raise PermissionError(
            f"s3://{self.bucket}/{self._key(key)} exists but reading it was refused ({_code(denied)}); "
            "the role needs s3:GetObject on this prefix"
        )

    def _get(self, key: str, **kwargs: Any) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key), **kwargs)["Body"].read()
        except ClientError as exc:
            if _code(exc) in MISSING:
                raise FileNotFoundError(f"no object s3://{self.bucket}/{self._key(key)}") from exc
            raise

    def read_bytes(self, key: str) -> bytes:
        return self._get(key)

    def read_head(self, key: str, size: int) -> bytes:
        # A range on an empty object is an error (416): callers check the size first.
        return self._get(key, Range=f"bytes=0-{size - 1}")

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def upload_file(self, path: Path, key: str) -> None:
        self.client.upload_file(str(path), self.bucket, self._key(key))

    def download_file(self, key: str, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.bucket, self._key(key), str(path))

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._key(o.key) for o in self.iter_objects(prefix.strip("/") + "/")]
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk]})
        return len(keys)

    def delete_keys(self, keys: list[str]) -> int:
        full = [self._key(k) for k in keys]
        for start in range(0, len(full), 1000):
            chunk = full[start : start + 1000]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk]})
        return len(full)

    def copy_to(self, key: str, other: Store, other_key: str) -> None:
        if isinstance(other, S3Store) and other.endpoint_url == self.endpoint_url:
            # Server-side: the bytes never pass through this process.
            other.client.copy({"Bucket": self.bucket, "Key": self._key(key)}, other.bucket, other._key(other_key))
            return
        if other.is_local:
            self.download_file(key, other.local_path(other_key))
            return
        super().copy_to(key, other, other_key)


def open_store(root: str, *, endpoint_url: str | None = None, region: str | None = None) -> Store:
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
