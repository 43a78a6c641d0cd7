"""What a job may name as S3 keys: its media prefix and file name, and where its results go.

A key the job names is checked when the job is read (submit, intake, the stage CLI), not when a stage
first touches it: a prefix that leaves the bucket, a key over S3's 1,024 bytes, or a prefix the
deployment's IAM roles cannot reach would otherwise pass, train for an hour, and fail at delivery.
The same rules hold for the local bucket folder, so a job that runs on one machine runs on AWS.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

#: S3's limit on a key, in UTF-8 bytes.
S3_KEY_MAX_BYTES = 1024
#: A file name on the common file systems (ext4, APFS, NTFS): the media is downloaded under its name.
FILE_NAME_MAX_BYTES = 255
#: The longest uuid (jobspec.UUID_MAX_LENGTH: SageMaker's job-name cap leaves room for 36 characters).
UUID_MAX_LENGTH = 36
#: Bytes kept free for the longest file name delivered under `<outputPrefix>/<uuid>/` (today
#: `<uuid>.ply` and `<uuid>.spz`, at most 40 bytes); a stage that delivers longer names raises it.
DELIVERED_NAME_MAX_BYTES = 64
#: The longest prefixes whose keys always fit: `<inputPrefix>/<inputKey>` and `<outputPrefix>/<uuid>/<name>`.
INPUT_PREFIX_MAX_BYTES = S3_KEY_MAX_BYTES - 1 - FILE_NAME_MAX_BYTES
OUTPUT_PREFIX_MAX_BYTES = S3_KEY_MAX_BYTES - 2 - UUID_MAX_LENGTH - DELIVERED_NAME_MAX_BYTES


def _utf8_bytes(text: str) -> int | None:
    """The UTF-8 size, or None for text S3 cannot hold (a lone surrogate such as JSON's "\\ud800")."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _character_problem(text: str) -> str:
    if _utf8_bytes(text) is None:
        return "holds a character that is not valid Unicode (a lone surrogate such as \\ud800)"
    bad = sorted({c for c in text if unicodedata.category(c) == "Cc"})
    if bad:
        return f"holds control characters ({', '.join(repr(c) for c in bad)}); use printable text"
    if "\\" in text:
        return "holds a backslash; S3 keys separate folders with '/'"
    return ""


def prefix_problem(prefix: str, max_bytes: int, keys: str) -> str:
    """Why a key prefix (already without slashes at either end) cannot be used, or "". `keys` says what
    keys it starts, for the length message."""
    problem = _character_problem(prefix)
    if problem:
        return problem
    segments = prefix.split("/") if prefix else []
    if any(s in (".", "..") for s in segments):
        return f"{prefix[:60]!r} holds a '.' or '..' folder; name a folder inside the bucket, e.g. 'a/b'"
    if any(not s for s in segments):
        return f"{prefix[:60]!r} holds an empty folder name ('//')"
    longest = max(segments, key=lambda s: _utf8_bytes(s) or 0, default="")
    if (_utf8_bytes(longest) or 0) > FILE_NAME_MAX_BYTES:
        return (
            f"holds a folder name of {_utf8_bytes(longest)} bytes ({longest[:40]!r}...); a folder name is at most "
            f"{FILE_NAME_MAX_BYTES} bytes (UTF-8), the longest name a file system stores (the local bucket is a "
            "folder, and a job that runs there runs on S3); split it with '/'"
        )
    size = _utf8_bytes(prefix) or 0
    if size > max_bytes:
        return (
            f"is {size} bytes; at most {max_bytes} bytes so that {keys} stays within S3's "
            f"{S3_KEY_MAX_BYTES}-byte key limit"
        )
    return ""


def file_name_problem(name: str) -> str:
    """Why a media file name cannot be used, or ""."""
    problem = _character_problem(name)
    if problem:
        return problem
    if name in (".", ".."):
        return f"{name!r} is not a file name"
    size = _utf8_bytes(name) or 0
    if size > FILE_NAME_MAX_BYTES:
        return (
            f"is {size} bytes; a media file name is at most {FILE_NAME_MAX_BYTES} bytes (UTF-8), the longest "
            "name file systems store (the stages download the media under its name); rename the file"
        )
    return ""


def _under(prefix: str, grant: str) -> bool:
    grant = grant.strip("/")
    return not grant or prefix == grant or prefix.startswith(grant + "/")


@dataclass(frozen=True)
class PrefixGrants:
    """The key prefixes the deployment's roles may read media from and deliver results to (the Terraform's
    `media_prefix` and `job_output_prefix`, as GS_MEDIA_PREFIXES and GS_OUTPUT_PREFIXES); empty: any."""

    media: tuple[str, ...] = ()
    output: tuple[str, ...] = ()

    @classmethod
    def parse(cls, media: str | Iterable[str] = (), output: str | Iterable[str] = ()) -> PrefixGrants:
        def split(value: str | Iterable[str]) -> tuple[str, ...]:
            items = value.split(",") if isinstance(value, str) else value
            return tuple(dict.fromkeys(p.strip().strip("/") for p in items if p.strip().strip("/")))

        return cls(media=split(media), output=split(output))

    def problems(self, input_prefix: str, output_prefix: str) -> list[tuple[str, str]]:
        """(JSON path, message) for each prefix outside what the deployment grants."""
        found = []
        for path, prefix, grants, setting in (
            ("s3.inputPrefix", input_prefix, self.media, "GS_MEDIA_PREFIXES"),
            ("s3.outputPrefix", output_prefix, self.output, "GS_OUTPUT_PREFIXES"),
        ):
            if grants and not any(_under(prefix, g) for g in grants):
                allowed = " or ".join(repr(g) for g in grants)
                found.append(
                    (
                        path,
                        f"{prefix!r} is outside what this deployment's roles may use: {allowed} or a folder under "
                        f"it (the operator's {setting}, from the Terraform)",
                    )
                )
        return found
