"""Stage outputs handed between assets by reference: the `storage` resource is also the IO manager.

A stage of the GPU chain leaves a folder, `<root>/<stage>/<uuid>/`, written by the stage process and put
in place by promotion (resources/stage_outputs.py). What Dagster stores for the asset is not those bytes
but a small typed handle, `StageFolder` (the folder's URI and its manifest: every file with its size),
kept as JSON at `<root>/.handles/<stage>/<uuid>.json` by `StageFolderIOManager`, a `UPathIOManager`.
A downstream asset (delivery, ...) receives the handle as its input and reads only the files it needs,
so it can be re-materialized alone, without the chain. A user moves the artifacts by configuring the
`storage` resource (GS_STORAGE_ROOT: a folder or `s3://bucket/prefix`): the launchers write there and
the IO manager reads and writes the handles there.

The handle files go through the project's `Store` (boto3 on S3, the same endpoint and credentials as
everything else) rather than fsspec's s3fs, whose aiobotocore pins an older botocore than boto3 needs;
UPath still does the path arithmetic and the partition handling of `UPathIOManager`.
"""

from __future__ import annotations

import functools
from typing import Any

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field
from upath import UPath

from gs_dagster.resources.storage import OutputsResource, Store

#: Folder (key prefix) under the storage root that holds the handles, one JSON file per stage and job.
HANDLES = ".handles"


class StageFolder(BaseModel):
    """A stage output by reference: where its folder is, and what files it holds (name -> bytes)."""

    model_config = ConfigDict(frozen=True)

    stage: str
    uuid: str
    uri: str = Field(description="the stage folder: a local path or s3://bucket/prefix/<stage>/<uuid>")
    manifest: dict[str, int] = Field(description="file names relative to the folder -> size in bytes")

    @property
    def key(self) -> str:
        """The folder's key relative to the storage root."""
        return f"{self.stage}/{self.uuid}"

    def key_of(self, name: str) -> str:
        """The storage key of one file of the folder (it must be in the manifest)."""
        if name not in self.manifest:
            raise KeyError(f"{name!r} is not in {self.uri} (it holds {', '.join(sorted(self.manifest)) or 'nothing'})")
        return f"{self.key}/{name}"

    def names(self, *, suffixes: tuple[str, ...] = (), under: str = "") -> list[str]:
        """File names in the folder, those ending in `suffixes` (top level) or under a subfolder."""
        if under:
            prefix = under.strip("/") + "/"
            return sorted(n for n in self.manifest if n.startswith(prefix))
        return sorted(n for n in self.manifest if "/" not in n and n.lower().endswith(suffixes))


def stage_folder(store: Store, stage: str, uuid: str) -> StageFolder:
    """The handle of a stored stage output, listed from storage (names and sizes, no bytes read)."""
    prefix = f"{stage}/{uuid}/"
    manifest = {obj.key[len(prefix) :]: obj.size for obj in store.iter_objects(prefix)}
    return StageFolder(stage=stage, uuid=uuid, uri=store.uri_of(f"{stage}/{uuid}"), manifest=manifest)


class StageFolderIOManager(dg.UPathIOManager):
    """Stores and loads `StageFolder` handles as `<base>/<stage>/<uuid>.json` through a `Store`."""

    extension = ".json"

    def __init__(self, store: Store) -> None:
        self.store = store
        super().__init__(base_path=UPath(store.uri_of(HANDLES)))

    def _key(self, path: UPath) -> str:
        text, root = str(path), self.store.uri.rstrip("/") + "/"
        if not text.startswith(root):
            raise ValueError(f"{text} is outside the storage root {self.store.uri}")
        return text[len(root) :]

    def _handle_transition_to_partitioned_asset(self, context: dg.OutputContext, path: UPath) -> None:
        """Nothing to migrate: the stage assets were always partitioned. (The base class checks the folder
        through fsspec here, the one file operation it has no public `path_*` hook for.)"""

    def make_directory(self, path: UPath) -> None:
        """Nothing to make: the store creates folders as it writes (and S3 has none)."""

    def path_exists(self, path: UPath) -> bool:
        return self.store.exists(self._key(path))

    def unlink(self, path: UPath) -> None:
        self.store.delete_keys([self._key(path)])

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        if not isinstance(obj, StageFolder):
            raise TypeError(f"the storage IO manager stores StageFolder handles, not {type(obj).__name__}")
        self.store.write_bytes(self._key(path), obj.model_dump_json(indent=1).encode())

    def load_from_path(self, context: dg.InputContext, path: UPath) -> StageFolder:
        key = self._key(path)
        if not self.store.exists(key):
            asset = context.asset_key.to_user_string() if context.has_asset_key else "the upstream stage"
            raise dg.Failure(
                f"no {asset} output is recorded for this job ({self.store.uri_of(key)} is missing): "
                f"materialize {asset} for this partition first"
            )
        return StageFolder.model_validate_json(self.store.read_bytes(key))

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        return {"files": len(obj.manifest), "bytes": sum(obj.manifest.values())} if isinstance(obj, StageFolder) else {}


class StageStorage(OutputsResource, dg.ConfigurableIOManager):
    """Where the stages' outputs live (GS_STORAGE_ROOT), and the IO manager that hands them on by reference."""

    def _io(self) -> StageFolderIOManager:
        return _io_manager(self.store())

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        self._io().handle_output(context, obj)

    def load_input(self, context: dg.InputContext) -> StageFolder:
        return self._io().load_input(context)


@functools.lru_cache(maxsize=16)
def _io_manager(store: Store) -> StageFolderIOManager:
    return StageFolderIOManager(store)
