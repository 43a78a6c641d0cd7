#!/usr/bin/env python3
"""Score the peer's held-out renders by the NeRF-W protocol, as our splatfacto-w-light is scored.

Why: gsplat's `simple_trainer.py --app_opt` reports plain PSNR only, rendered with a zero appearance
embedding, while `splatfacto-w-light` reports both plain PSNR and the NeRF-W protocol (per-view colour
gain and offset fitted on the left half of a held-out photo, PSNR on the right half:
`gs_stages.splat.appearance_eval`). This script applies that same protocol, with the same fitting code,
to the peer's own eval images (`<result_dir>/renders/val_step<N>_<i>.png`: photo | render side by side,
8 bits each), so both sides are compared on one protocol. Plain PSNR from the same PNGs is printed too,
to show what the 8-bit round trip costs against the peer's own figure.

    python3 bench/peer_nerfw.py RESULT_DIR      # prints one JSON line (the last line)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gs_stages.splat.appearance_eval import PROTOCOL, apply_colour_transform, fit_colour_transform
from gs_stages.splat.metrics import psnr


def score(canvas: np.ndarray) -> dict[str, float] | None:
    """NeRF-W and plain PSNR of one (H, 2W, 3) photo|render canvas; None when too few pixels fit."""
    both = torch.from_numpy(canvas[..., :3].astype(np.float32) / 255.0)
    width = both.shape[1] // 2
    photo, render = both[:, :width], both[:, width:]
    left = torch.zeros(photo.shape[:2], dtype=torch.bool)
    left[:, : width // 2] = True
    unclipped = ((photo > 0.5 / 255) & (photo < 254.5 / 255)).all(dim=-1)
    if int((left & unclipped).sum()) < 4:
        return None
    transform = fit_colour_transform(render, photo, left & unclipped)
    fitted = apply_colour_transform(render, transform)
    return {"psnr_nerfw": psnr(fitted, photo, ~left), "psnr_png": psnr(render, photo)}


def main(result_dir: str) -> int:
    renders = Path(result_dir) / "renders"
    steps = sorted({int(p.name.split("_step")[1].split("_")[0]) for p in renders.glob("val_step*_*.png")})
    if not steps:
        print(json.dumps({"ok": False, "error": f"no val_step*_*.png under {renders}"}))
        return 1
    rows = []
    for path in sorted(renders.glob(f"val_step{steps[-1]}_*.png")):
        row = score(np.asarray(Image.open(path).convert("RGB")))
        if row is not None:
            rows.append({"name": path.name, **row})
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr_nerfw", "psnr_png")} if rows else {}
    print(json.dumps({"ok": bool(rows), "step": steps[-1], "protocol": PROTOCOL, **mean, "per_view": rows}))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
