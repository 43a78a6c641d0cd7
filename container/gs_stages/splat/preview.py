"""`preview.png`: held-out renders next to their ground truth, to judge a run at a glance.

One row per view, ground truth on the left and the render on the right, scaled so the sheet is at
most `max_width` pixels wide (1024 by default) and each row keeps its aspect ratio.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch import Tensor


def write_preview(path: Path, pairs: list[tuple[Tensor, Tensor]], max_width: int = 1024) -> Path:
    """`pairs` are (ground truth, render) float images (H, W, 3) in [0, 1]."""
    rows = []
    for truth, render in pairs:
        row = np.concatenate([_to_uint8(truth), _to_uint8(render)], axis=1)
        scale = min(1.0, max_width / row.shape[1])
        size = (max(1, round(row.shape[1] * scale)), max(1, round(row.shape[0] * scale)))
        rows.append(cv2.resize(row, size, interpolation=cv2.INTER_AREA))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return Path(path)


def _to_uint8(image: Tensor) -> np.ndarray:
    return (image.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
