"""The masks stage: frames -> per-frame masks for SfM and training (segmentation.* of the job).

The object is found by U^2-Net per frame (`u2net`, `u2net-human`), or by SAM 2's video predictor over
the frames in capture order (`sam2`, sam2_masks.py); people to leave out by U^2-Net's human model.

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
from gs_stages.masks.sam2_masks import run_sam2, sam2_python
from gs_stages.masks.u2net import SaliencyModel
from gs_stages.masks.weights import DETECTOR_FILE, model_files, resolve_file, sam2_model, wanted_models
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
    python = sam2_python(ctx.settings) if object_model == "sam2" else None  # refused before any work
    with tempfile.TemporaryDirectory(prefix="gs-masks-weights-") as workdir:
        files = {
            model: [
                resolve_file(file, what, ctx.settings, Path(workdir), ctx.log)
                for file in model_files(model, ctx.settings)
            ]
            for model, what in wanted_models(ctx.spec)
        }
        sources = {model: ", ".join(source for _, source in found) for model, found in files.items()}
        models = {
            model: SaliencyModel(found[0][0], model, threads) for model, found in files.items() if model != "sam2"
        }
        started = time.perf_counter()
        sam2_result: dict[str, Any] | None = None
        if python is not None:
            (checkpoint, _), (detector, _) = files["sam2"]
            sam2_result = run_sam2(
                python,
                [frames / name for name in names],
                ctx.output / MASKS_DIR,
                checkpoint,
                sam2_model(ctx.settings)[1],
                detector,
                threshold,
                ctx.log,
            )
        records = _write_masks(ctx, frames, names, models, object_model, seg.remove_human_subject, threshold)
        if sam2_result is not None:
            for record, found in zip(records, sam2_result["per_frame"], strict=True):
                record["object_fraction"] = round(float(found["object_fraction"]), 4)
        seconds = time.perf_counter() - started

    def kind(model: str, directory: str, meaning: str) -> dict[str, Any]:
        described: dict[str, Any] = {"dir": directory, "model": model, "weights": sources[model], "meaning": meaning}
        if model in models:
            described["input_size"] = [models[model].width, models[model].height]
        if model == "sam2" and sam2_result is not None:
            described["config"] = sam2_model(ctx.settings)[1]
            described["detector"] = DETECTOR_FILE
            described["prompt"] = sam2_result["prompt"]  # the first frame's person box, or centre points
            described["device"] = sam2_result["device"]
        return described

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
        if sam2_result is not None:
            metrics["sam2_prompt"] = sam2_result["prompt"]["kind"]
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
    if object_model and object_model != "sam2":  # SAM 2 has written its masks over the whole sequence
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
