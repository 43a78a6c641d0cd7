"""The store of a local folder (GS_STORAGE_ROOT or GS_BUCKET without s3://): the same interface as S3's,
writes made atomic (a hidden `.part` file renamed over the name), listings paged as S3 pages them."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from gs_dagster.resources.storage import LIST_PAGE, PART_SUFFIX, ListPage, ObjectInfo, Store, _in_progress, _join


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

    def read_tail(self, key: str, size: int) -> bytes:
        with self.local_path(key).open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - size))
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
