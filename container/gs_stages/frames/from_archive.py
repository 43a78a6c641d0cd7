"""Zip → images/ + manifest (+ priors/): every photo upright, downscaled, numbered in natural order.

Photos are decoded into a staging folder first because the final sequential names are known only
after the blur filter has run over the whole sequence.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gs_stages.frames.archive import SafeArchive, is_image, member_path, open_archive
from gs_stages.frames.blur import blurry_frames
from gs_stages.frames.images import DECODE_ERRORS, DecodedImage, decode_image, save_jpeg
from gs_stages.frames.output import STAGING_DIR, frame_name
from gs_stages.frames.priors import FoundPriors, copy_priors, find_priors, priors_source, requested_kind
from gs_stages.frames.settings import FramesSettings
from gs_stages.frames.zip_contents import in_masks_folder, no_photos
from gs_stages.layout import FrameRecord, FramesManifest
from gs_stages.stage import StageContext, StageError
from gs_stages.step_timer import StepTimer

#: A photo is read into memory whole; no real photo file is this large, a hostile member can be.
MAX_IMAGE_BYTES = 1024**3


def frame_members(archive: SafeArchive, priors: FoundPriors) -> list[zipfile.ZipInfo]:
    """Photos to ingest, in natural order: not masks (a `masks/` folder), not depth maps of the priors."""
    members = []
    for info in archive.files:
        path = member_path(info)
        if is_image(path) and not in_masks_folder(path) and path not in priors.not_frames:
            members.append(info)
    return members


def _decode_one(data: bytes, target: Path, settings: FramesSettings) -> DecodedImage:
    """Decode, orient, downscale and write one photo (runs in a worker thread: Pillow and libheif
    release the GIL while they decode and resize)."""
    decoded = decode_image(data, settings.max_image_side)
    save_jpeg(decoded, target, settings.jpeg_quality)
    return decoded


def _decode_all(
    ctx: StageContext, archive: SafeArchive, members: list[zipfile.ZipInfo], staging: Path, settings: FramesSettings
) -> tuple[list[FrameRecord], list[dict[str, Any]]]:
    """Decode each photo into staging/<n>.jpg, `num_threads` at a time; unreadable ones are recorded,
    not fatal. Members are read from the zip in order in this thread (the archive's byte limit is a
    running total), and at most two photos per worker are held in memory at once."""
    records: list[FrameRecord] = []
    unreadable: list[dict[str, Any]] = []
    window = 2 * settings.num_threads
    with ThreadPoolExecutor(max_workers=settings.num_threads, thread_name_prefix="frames-decode") as pool:
        pending: deque[tuple[int, str, Future[DecodedImage]]] = deque()

        def finish_oldest() -> None:
            number, source, future = pending.popleft()
            try:
                decoded = future.result()
            except DECODE_ERRORS as exc:
                ctx.log.warning("skipping %s: not a readable image (%s)", source, exc)
                unreadable.append({"source": source, "reason": "unreadable", "detail": str(exc)})
                return
            records.append(
                FrameRecord(
                    name=frame_name(number),
                    source=source,
                    width=decoded.image.width,
                    height=decoded.image.height,
                    source_width=decoded.source_width,
                    source_height=decoded.source_height,
                    sharpness=round(decoded.sharpness, 3),
                )
            )

        for number, info in enumerate(ctx.progress(members, total=len(members), desc="frames: decode")):
            source = member_path(info)
            if info.file_size > MAX_IMAGE_BYTES:
                ctx.log.warning("skipping %s: %d bytes is too large for one photo", source, info.file_size)
                unreadable.append({"source": source, "reason": "too_large", "detail": f"{info.file_size:,} bytes"})
                continue
            data = archive.read(info)
            pending.append((number, source, pool.submit(_decode_one, data, staging / frame_name(number), settings)))
            if len(pending) >= window:
                finish_oldest()
        while pending:
            finish_oldest()
    return records, unreadable


def _drop_blurry(records: list[FrameRecord], settings: FramesSettings) -> tuple[list[FrameRecord], list[dict]]:
    drops = blurry_frames([r.sharpness for r in records], settings.blur_window, settings.blur_fraction)
    dropped_at = {d.index for d in drops}
    dropped = [
        {
            "source": records[d.index].source,
            "reason": "blurry",
            "sharpness": records[d.index].sharpness,
            "local_median": round(d.local_median, 3),
            "detail": f"sharpness is {d.ratio:.0%} of its neighbours' median (below {settings.blur_fraction:.0%})",
        }
        for d in drops
    ]
    return [r for i, r in enumerate(records) if i not in dropped_at], dropped


def ingest_archive(
    ctx: StageContext, media: Path, images: Path, settings: FramesSettings, timer: StepTimer
) -> tuple[FramesManifest, dict[str, Any]]:
    with timer.step("inspect"):
        archive = open_archive(media, settings)
    try:
        with timer.step("inspect"):
            priors = find_priors(archive)
            kind = requested_kind(ctx.spec, priors, archive)
            members = frame_members(archive, priors)
            if not members:
                raise no_photos(media.name, [member_path(info) for info in archive.files])
        staging = images.parent / STAGING_DIR
        staging.mkdir()
        with timer.step("decode"):
            records, dropped = _decode_all(ctx, archive, members, staging, settings)
        if not records:
            raise StageError(
                f"none of the {len(members)} images in {media.name} could be decoded",
                hint="check that the photos open in an image viewer; re-export them as JPEG",
            )
        filter_blur = ctx.spec.image_processing.filter_blurry_images and not ctx.spec.uses_pose_priors
        if filter_blur:
            with timer.step("blur_filter"):
                records, blurry = _drop_blurry(records, settings)
                dropped.extend(blurry)
        with timer.step("write"):
            for number, record in enumerate(records):
                os.replace(staging / record.name, images / frame_name(number))
                record.name = frame_name(number)
            shutil.rmtree(staging)
        with timer.step("priors"):
            written = copy_priors(archive, priors, images.parent)
    finally:
        archive.close()
    manifest = FramesManifest(
        media_kind="archive",
        media_name=media.name,
        frames=records,
        priors=kind,
        dropped=dropped,
        priors_source=priors_source(priors, kind),
    )
    metrics = {
        "archive_members": len(archive.files),
        "images_found": len(members),
        "blur_filter": filter_blur,
        "priors_found": ",".join(priors.kinds) or "none",
        "priors_files": len(written),
    }
    return manifest, metrics
