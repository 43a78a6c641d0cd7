"""The store of an S3 prefix (GS_STORAGE_ROOT or GS_BUCKET as s3://bucket/prefix, with an optional
S3-compatible endpoint): boto3 through gs_stages.s3_files, one client per endpoint, a missing object read
as absent and a refused request named as such."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from gs_dagster.resources.storage import LIST_PAGE, ListPage, ObjectInfo, Store, _join, split_s3_uri
from gs_stages import s3_files

#: S3 error codes of a missing object (a missing bucket is an error), and of a refused request.
MISSING = ("404", "NoSuchKey", "NotFound")
DENIED = s3_files.DENIED_CODES


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

    def read_tail(self, key: str, size: int) -> bytes:
        # A suffix range: the whole object when it is shorter than `size`.
        return self._get(key, Range=f"bytes=-{size}")

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
