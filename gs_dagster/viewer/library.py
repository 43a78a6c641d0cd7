"""The job library: what `gs-dagster view` lists for each job, and where each of its files is.

Read through the same job table and stores as the rest of the project, so the embedded mode (local
folders, SQLite) and AWS mode (S3, DynamoDB) look alike. Only a job's delivery folder (where its record
says the .spz/.ply went: .spz, .ply, .sog, .mp4 and .png files there) and the spz stage's `cameras.json`
are ever served: a URL can never reach another key. In AWS mode downloads are presigned S3 URLs; the
viewer itself reads through this process, so the bucket needs no CORS rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gs_dagster.config import GsConfig
from gs_dagster.messages import human_seconds, shown_error
from gs_dagster.resources.job_table import JobRecord
from gs_dagster.resources.storage import S3Store, Store, open_store, split_s3_uri
from gs_stages.export.cameras import CAMERAS_JSON

#: Delivered files (by suffix) offered for download, in this order; the first viewable one is viewed.
DOWNLOADS = (".spz", ".ply", ".sog", ".mp4", ".png")
VIEWABLE = (".spz", ".ply")
THUMBNAILS = (".png", ".jpg")
PRESIGN_SECONDS = 3600


@dataclass(frozen=True)
class JobFile:
    """One file of a job: its name, and the store and key it is read from."""

    name: str
    store: Store
    key: str
    kind: str  # the file's suffix (".spz", ...) or "cameras"

    def s3_object(self) -> dict[str, str]:
        """Bucket and Key of the file in S3 (an S3Store's file only)."""
        bucket, key = split_s3_uri(self.store.uri_of(self.key))
        return {"Bucket": bucket, "Key": key}


class Library:
    """Jobs and their files, from the job table and the bucket/storage stores of `config`."""

    def __init__(self, config: GsConfig, table: Any, bucket: Store, storage: Store):
        self.config, self.table, self.bucket, self.storage = config, table, bucket, storage

    @classmethod
    def open(cls, config: GsConfig) -> Library:
        from gs_dagster.resources.job_table import open_job_table

        stores = [
            open_store(root, endpoint_url=config.endpoint_url, region=config.region)
            for root in (config.bucket, config.storage_root)
        ]
        table = open_job_table(config.job_table, endpoint_url=config.endpoint_url, region=config.region)
        return cls(config, table, *stores)

    def _locate(self, uri: str) -> tuple[Store, str] | None:
        """The store and key of a URI the record holds, when it lies in the bucket or the storage."""
        for store in (self.bucket, self.storage):
            root = store.uri.rstrip("/") + "/"
            if uri.startswith(root) and ".." not in uri[len(root) :].split("/"):
                return store, uri[len(root) :]
        return None

    def files(self, record: JobRecord) -> dict[str, JobFile]:
        """The files of a job that exist, by file name: what its delivery folder holds (the folder of the
        delivered .spz/.ply, so a thumbnail or fly-through delivered beside them shows up too) and the
        spz stage's cameras.json."""
        found: dict[str, JobFile] = {}
        folders = {}
        for kind, uri in record.outputs.items():
            located = self._locate(uri) if kind.startswith(".") else None
            if located is not None and "/" in located[1]:
                folders[located[1].rsplit("/", 1)[0]] = located[0]
        for folder, store in folders.items():
            for info in store.iter_objects(f"{folder}/", children_only=True):
                name = info.key.rsplit("/", 1)[-1]
                suffix = name[name.rfind(".") :].lower() if "." in name else ""
                if suffix in DOWNLOADS:
                    found[name] = JobFile(name, store, info.key, suffix)
        stage_dir = record.outputs.get("spz")
        located = self._locate(f"{stage_dir.rstrip('/')}/{CAMERAS_JSON}") if stage_dir else None
        if located is not None and located[0].head(located[1]) is not None:
            found[CAMERAS_JSON] = JobFile(CAMERAS_JSON, located[0], located[1], "cameras")
        return dict(sorted(found.items(), key=lambda item: (_rank(item[1].kind), item[0])))

    def file(self, uuid: str, name: str) -> JobFile | None:
        record = self.table.get(uuid)
        return self.files(record).get(name) if record is not None else None

    def download_url(self, uuid: str, item: JobFile) -> str:
        """A presigned GET in AWS mode (the bytes never pass through here), else this server's own URL."""
        if isinstance(item.store, S3Store):
            params = {**item.s3_object(), "ResponseContentDisposition": f'attachment; filename="{item.name}"'}
            return item.store.client.generate_presigned_url("get_object", Params=params, ExpiresIn=PRESIGN_SECONDS)
        return file_url(uuid, item.name) + "?download=1"

    def entry(self, record: JobRecord) -> dict[str, Any]:
        """What the library shows for one job (also the viewer's description of it)."""
        files = self.files(record)
        by_kind = {f.kind: f for f in files.values()}
        viewable = next((by_kind[k] for k in VIEWABLE if k in by_kind), None)
        thumbnail = next((by_kind[k] for k in THUMBNAILS if k in by_kind), None)
        psnr, gaussians = record.metrics.get("psnr"), record.metrics.get("num_gaussians")
        return {
            "uuid": record.uuid,
            "name": record.name,
            "status": record.status,
            "submitted_at": record.submitted_at,
            "duration_s": record.elapsed_s,
            "duration": human_seconds(record.elapsed_s) if record.elapsed_s is not None else "",
            "psnr": psnr,
            "gaussians": int(gaussians) if gaussians is not None else None,
            "view_url": f"/view.html?job={quote(record.uuid)}" if viewable else None,
            "splat_url": file_url(record.uuid, viewable.name) if viewable else None,
            "splat_urls": {k: file_url(record.uuid, by_kind[k].name) for k in VIEWABLE if k in by_kind},
            "cameras_url": file_url(record.uuid, CAMERAS_JSON) if CAMERAS_JSON in files else None,
            "thumbnail_url": file_url(record.uuid, thumbnail.name) if thumbnail else None,
            "downloads": [
                {"name": f.name, "url": self.download_url(record.uuid, f)}
                for f in files.values()
                if f.kind != "cameras"
            ],
            "error": shown_error(record.error),  # all of it: the heading alone says nothing to fix
        }

    def jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        return [self.entry(r) for r in self.table.list(limit=limit)]

    def job(self, uuid: str) -> dict[str, Any] | None:
        record = self.table.get(uuid)
        return self.entry(record) if record is not None else None


def _rank(kind: str) -> int:
    return DOWNLOADS.index(kind) if kind in DOWNLOADS else len(DOWNLOADS)


def file_url(uuid: str, name: str) -> str:
    return f"/files/{quote(uuid)}/{quote(name)}"
