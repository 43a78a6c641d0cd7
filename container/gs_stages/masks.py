"""The masks stage. Without segmentation it passes frames through (no masks); the segmentation models
(u2net, u2net-human, sam2) are a later issue and fail clearly until they land, never silently."""

from __future__ import annotations

import json
from typing import Any

from gs_stages.layout import IMAGES_DIR, MASKS_JSON
from gs_stages.stage import NotAvailableError, StageContext


def run(ctx: StageContext) -> dict[str, Any]:
    seg = ctx.spec.segmentation
    if seg.remove_background or seg.remove_human_subject:
        what = "background removal" if seg.remove_background else "human subject removal"
        raise NotAvailableError(
            f"{what} ({seg.background_removal_model}) is not available in this build",
            hint="set segmentation.removeBackground and segmentation.removeHumanSubject to false",
        )
    frames = ctx.input("frames")
    count = len(list((frames / IMAGES_DIR).glob("*")))
    (ctx.output / MASKS_JSON).write_text(json.dumps({"enabled": False, "frames": count}))
    return {"masks_enabled": False, "frames": count}
