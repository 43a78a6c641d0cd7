"""Image sharpness and output sizes, shared by the video and the archive paths.

Sharpness is measured on a grey copy no larger than `ANALYSIS_SIDE`, so scores are comparable
between photos of different resolutions and do not change with the output size setting.
"""

from __future__ import annotations

import cv2
import numpy as np

ANALYSIS_SIDE = 1024


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size that fits `max_side` keeping the aspect ratio; unchanged when already small enough."""
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_to_fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale with area averaging (no aliasing); never upscale."""
    height, width = image.shape[:2]
    size = fit_size(width, height, max_side)
    if size == (width, height):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: high for crisp edges, low for blur."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    grey = resize_to_fit(grey, ANALYSIS_SIDE)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
