"""A stage's materialization metadata as people read it: the headline figures first, the preview, the
locations as links, and everything else in two grouped entries instead of thirty loose rows.

The Dagster UI shows a materialization's entries in the order they were given (it does not sort them),
so the order here is the order on screen:

1. the headline figures of the stage (PSNR, SSIM, Gaussians, sizes, elapsed seconds), as numbers (the UI
   plots them across partitions);
2. `preview` (splat): the held-out views, ground truth left and render right, said in the markdown around
   the image; (spz) the delivered thumbnail. The stage process only names the file (`preview_file`), so
   no Pipes message carries it (a long line is what a reader tailing the message file can be handed half
   of). The UI shows markdown of 1,000 characters or more behind "[Show Markdown]": with a web URL for the
   storage (GS_STORAGE_WEB_URL) the entry links the image and shows inline; without one the image is read
   from storage here and inlined as data (always longer: a 96x72 preview is already ~1,300 characters), one click away;
3. `view` (the job in `gs-dagster view`), `location`, `delivered_*`, `preview_image`: links (file:// for
   a local path, the S3 URI as given), then what the launcher added (`sagemaker/*`: the training job,
   console link, cost);
4. `details`: every other metric of the stage; `run`: how this output was made (uuid, spec digest,
   overrides, settings, the stages launched together).

`plain_location` turns a link back into the path or URI the job record and the notice show.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import dagster as dg

from gs_stages.report import PREVIEW_FILE_KEY

log = logging.getLogger(__name__)

#: Per stage, the figures shown first, in this order (those the stage reported).
HEADLINE: dict[str, tuple[str, ...]] = {
    "frames": ("frame_count", "stage_seconds"),
    "masks": ("masks_enabled", "frames", "object_fraction_mean", "stage_seconds"),
    "sparse_model": (
        "registered_images",
        "input_images",
        "registered_ratio",
        "points3d",
        "mean_reprojection_error_px",
        "stage_seconds",
    ),
    "splat": ("psnr", "ssim", "lpips", "num_gaussians", "steps", "train_seconds", "stage_seconds"),
    "spz": ("num_gaussians", "spz_bytes", "ply_bytes", "sog_bytes", "flythrough_bytes", "stage_seconds"),
}
#: Notes right after the headline: how the result reached Dagster (a report lost on the way), and a stage's
#: `warning` about its input (a video that stopped decoding part-way), which the job's notice repeats.
NOTES = ("reported_from", "warning")
#: Entries that are links, in this order, after the preview.
LINKS = (
    "view",
    "location",
    "delivered_ply",
    "delivered_spz",
    "delivered_sog",
    "delivered_mp4",
    "delivered_png",
    "delivered_cameras",
    "delivered_glb",
    "delivered_sparse",
    "preview_image",
)
#: Entries a launcher adds (the SageMaker job, its billable time and cost): kept together, after the links.
LAUNCHER_PREFIXES = ("sagemaker/",)
PREVIEW_MAX_SIDE = 640
PREVIEW_LABEL = "Held-out views: **ground truth** (left) | **render** (right)"
#: Per stage, the words around its preview and the image's alt text (splat: the held-out sheet; spz: the
#: delivered thumbnail).
PREVIEW_LABELS = {
    "splat": (PREVIEW_LABEL, "ground truth | render"),
    "spz": ("Thumbnail: the delivered splat from the first capture camera (`<name>.png`)", "thumbnail"),
}


def link(uri: str) -> dg.MetadataValue:
    """A location as a link: file:// for a local path, any URI as it is."""
    if "://" in uri:
        return dg.MetadataValue.url(uri)
    folder = "/" if uri.endswith("/") else ""  # a folder stays a folder (the record shows the path as given)
    return dg.MetadataValue.url(Path(uri).expanduser().absolute().as_uri() + folder)


def plain_location(value: Any) -> str:
    """The path or URI a link entry stands for (file:// links become paths again)."""
    text = str(getattr(value, "value", value))
    if text.startswith("file://"):
        return unquote(urlparse(text).path)
    return text


def _plain(value: Any) -> Any:
    """A metadata value as plain JSON data (for the grouped entries)."""
    value = getattr(value, "value", value)
    if isinstance(value, dg.MetadataValue):  # a value type without a plain form (e.g. a table)
        return str(value)
    return json.loads(json.dumps(value, default=str))


def preview_markdown(image: bytes, max_side: int = PREVIEW_MAX_SIDE, stage: str = "splat") -> str | None:
    """The preview downscaled to a JPEG, inlined as data, under its label (`PREVIEW_LABELS`)."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(image)) as opened:
            picture = opened.convert("RGB")
        picture.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=80)
    except (ImportError, OSError, ValueError) as exc:
        log.warning("preview not readable: %s", exc)
        return None
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    label, alt = PREVIEW_LABELS.get(stage, PREVIEW_LABELS["splat"])
    return f"{label}\n\n![{alt}](data:image/jpeg;base64,{data})"


def result_metadata(
    stage: str,
    reported: Mapping[str, Any],
    *,
    links: Mapping[str, str],
    run: Mapping[str, Any],
    preview: bytes | None = None,
    preview_url: str | None = None,
) -> dict[str, Any]:
    """The materialization's metadata in reading order (see the module docstring).

    `reported`: what the stage process (or launcher) reported; `links`: name -> path or URI;
    `run`: how the output was made; `preview`: the preview image's bytes, when the stage made one, or
    `preview_url`: an http(s) URL the UI can load it from (a short entry, which the UI shows inline).
    """
    rest = {k: v for k, v in reported.items() if k != PREVIEW_FILE_KEY}
    metadata: dict[str, Any] = {}
    for name in HEADLINE.get(stage, ()):
        value = getattr(rest.get(name), "value", rest.get(name))
        if isinstance(value, bool | int | float):  # an absent figure (None, e.g. no LPIPS) stays in details
            metadata[name] = round(value, 4) if isinstance(value, float) else value
            del rest[name]
    for name in NOTES:
        if name in rest:
            metadata[name] = rest.pop(name)
    if preview_url:
        label, alt = PREVIEW_LABELS.get(stage, PREVIEW_LABELS["splat"])
        markdown: str | None = f"{label}\n\n![{alt}]({preview_url})"
    else:
        markdown = preview_markdown(preview, stage=stage) if preview else None
    if markdown:
        metadata["preview"] = dg.MetadataValue.md(markdown)
    for name in LINKS:
        if links.get(name):
            metadata[name] = link(links[name])
    for name, value in list(rest.items()):  # what the launcher added: the SageMaker job, its console link
        if isinstance(value, dg.UrlMetadataValue) or name.startswith(LAUNCHER_PREFIXES):
            metadata[name] = rest.pop(name)
    metadata["details"] = dg.MetadataValue.json({name: _plain(value) for name, value in rest.items()})
    metadata["run"] = dg.MetadataValue.json({name: _plain(value) for name, value in run.items()})
    return metadata


def preview_key(stage: str, uuid: str, reported: Mapping[str, Any]) -> str | None:
    """The storage key of the preview the stage reported by name, if it did."""
    name = reported.get(PREVIEW_FILE_KEY)
    name = getattr(name, "value", name)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        return None
    return f"{stage}/{uuid}/{name}"
