"""The masks stage: frames -> per-frame masks for SfM and training (segmentation.* of the job).

Output (`gs_stages.layout`):
* `masks/<stem>.png`: with `removeBackground`, 8-bit, the frame's size, 255 = the object (trained),
  0 = removed background (the splat stage trains it transparent; SfM extracts no features there).
* `ignore/<stem>.png`: with `removeHumanSubject`, 255 = a person, to be left out of training entirely
  (no colour and no alpha loss; the scene behind is learnt from the other views), 0 = used.
* `masks.json`: `enabled` (masks/ is there; what SfM and the splat loader read), the models, threshold
  and weight files used, and per-frame coverage.

Without segmentation only `masks.json` is written (`enabled: false`) and frames pass through unmasked.

Why a second mask kind for people: the object masks say "object" or "background, train to alpha 0",
and a person marked as background would punch a transparent hole through whatever stands behind
them. The splat loader turns `ignore/` pixels invalid instead (`splat/scene.py`): no loss and no
metric sees them, and the scene behind a person is learnt from the other views.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gs_stages.capabilities import HUMAN_MODEL, refuse
from gs_stages.layout import IGNORE_DIR, IMAGES_DIR, MASKS_DIR, MASKS_JSON, read_frames_input
from gs_stages.masks.u2net import SaliencyModel
from gs_stages.masks.weights import resolve_weights, wanted_models
from gs_stages.stage import StageContext, StageError


def run(ctx: StageContext) -> dict[str, Any]:
    seg = ctx.spec.segmentation
    frames = ctx.input("frames") / IMAGES_DIR
    if not (seg.remove_background or seg.remove_human_subject):
        count = len(list(frames.glob("*")))
        (ctx.output / MASKS_JSON).write_text(json.dumps({"enabled": False, "frames": count}))
        return {"masks_enabled": False, "frames": count}

    # Every refusal before any work or download, so a failed run leaves the output empty.
    refuse(ctx.spec, "masks")  # sam2, or u2net-human as the object with removeHumanSubject (capabilities.py)
    object_model = seg.background_removal_model if seg.remove_background else None
    names = read_frames_input(ctx.input("frames")).names

    threshold = float(seg.mask_threshold)
    threads = int(ctx.settings.get("num_threads") or 0)
    with tempfile.TemporaryDirectory(prefix="gs-masks-weights-") as workdir:
        models: dict[str, SaliencyModel] = {}
        sources: dict[str, str] = {}
        files = {
            model: resolve_weights(model, what, ctx.settings, Path(workdir), ctx.log)
            for model, what in wanted_models(ctx.spec)
        }
        for model, (path, source) in files.items():
            models[model] = SaliencyModel(path, model, threads)
            sources[model] = source
        started = time.perf_counter()
        records = _write_masks(ctx, frames, names, models, object_model, seg.remove_human_subject, threshold)
        seconds = time.perf_counter() - started

    def kind(model: str, directory: str, meaning: str) -> dict[str, Any]:
        network = models[model]
        return {
            "dir": directory,
            "model": model,
            "weights": sources[model],
            "input_size": [network.width, network.height],
            "meaning": meaning,
        }

    config: dict[str, Any] = {"enabled": object_model is not None, "frames": len(names), "threshold": threshold}
    if object_model:
        config["keep"] = kind(object_model, MASKS_DIR, "255 = object (trained), 0 = removed background (transparent)")
    if seg.remove_human_subject:
        config["ignore"] = kind(HUMAN_MODEL, IGNORE_DIR, "255 = person, left out of training (no loss), 0 = used")
    config["per_frame"] = records
    (ctx.output / MASKS_JSON).write_text(json.dumps(config, indent=2))

    metrics: dict[str, Any] = {
        "masks_enabled": object_model is not None,
        "frames": len(names),
        "mask_threshold": threshold,
        "seconds_per_frame": round(seconds / len(names), 4),
    }
    if object_model:
        metrics["background_model"] = object_model
        metrics["object_fraction_mean"] = round(float(np.mean([r["object_fraction"] for r in records])), 4)
    if seg.remove_human_subject:
        metrics["human_removal"] = True
        metrics["ignored_fraction_mean"] = round(float(np.mean([r["ignored_fraction"] for r in records])), 4)
    ctx.log.info("masks: %d frame(s) at %.2f s each", len(names), seconds / len(names))
    return metrics


def _write_masks(
    ctx: StageContext,
    frames: Path,
    names: list[str],
    models: dict[str, SaliencyModel],
    object_model: str | None,
    remove_humans: bool,
    threshold: float,
) -> list[dict[str, Any]]:
    """Segment every frame; masks named `<stem>.png` (what the SfM and splat loaders look up)."""
    kinds: list[tuple[Path, str, str]] = []  # (folder, model, per-frame coverage key)
    if object_model:
        kinds.append((ctx.output / MASKS_DIR, object_model, "object_fraction"))
    if remove_humans:
        kinds.append((ctx.output / IGNORE_DIR, HUMAN_MODEL, "ignored_fraction"))
    for directory, _, _ in kinds:
        directory.mkdir(parents=True, exist_ok=True)
    records = []
    for name in ctx.progress(names, total=len(names), desc="masks"):
        bgr = cv2.imread(str(frames / name), cv2.IMREAD_COLOR)
        if bgr is None:
            raise StageError(f"frame {name!r} is unreadable at {frames / name}", hint="run the frames stage again")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        record: dict[str, Any] = {"name": name, "mask": Path(name).stem + ".png"}
        for directory, model, key in kinds:
            mask = models[model].mask(rgb, threshold)
            if not cv2.imwrite(str(directory / record["mask"]), mask):
                raise StageError(f"cannot write {directory / record['mask']}")
            record[key] = round(float(np.count_nonzero(mask)) / mask.size, 4)
        records.append(record)
    return records
