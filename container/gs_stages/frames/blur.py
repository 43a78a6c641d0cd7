"""Drop photos that are blurry compared with their neighbours in the capture order.

An absolute sharpness threshold fails across scenes (a white wall is never "sharp"), so a frame is
judged against the median of the frames around it. Dropping never removes two consecutive frames:
the gap left by a drop is one frame wide and the remaining neighbours still overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True)
class BlurDrop:
    index: int
    sharpness: float
    local_median: float

    @property
    def ratio(self) -> float:
        return self.sharpness / self.local_median if self.local_median > 0 else 1.0


def local_medians(scores: list[float], window: int) -> list[float]:
    """Median sharpness of the neighbours of each frame (itself excluded) within `window` frames."""
    half = max(1, window // 2)
    medians = []
    for i in range(len(scores)):
        neighbours = scores[max(0, i - half) : i] + scores[i + 1 : i + 1 + half]
        medians.append(median(neighbours) if neighbours else scores[i])
    return medians


def blurry_frames(scores: list[float], window: int, fraction: float) -> list[BlurDrop]:
    """Frames to drop, in capture order: below `fraction` x local median, blurriest picked first,
    never next to another dropped frame. Fewer than three frames are never filtered."""
    if len(scores) < 3:
        return []
    medians = local_medians(scores, window)
    candidates = [BlurDrop(i, s, m) for i, (s, m) in enumerate(zip(scores, medians, strict=True))]
    candidates = sorted((c for c in candidates if c.ratio < fraction), key=lambda c: c.ratio)
    dropped: dict[int, BlurDrop] = {}
    for candidate in candidates:
        if candidate.index - 1 not in dropped and candidate.index + 1 not in dropped:
            dropped[candidate.index] = candidate
    return [dropped[i] for i in sorted(dropped)]
