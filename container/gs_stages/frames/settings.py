"""Engine settings of the frames stage that are not part of the job JSON (`--setting NAME=VALUE`).

They are limits an operator tunes per deployment (how large an upload may be, how large an image
the GPU can train on), so they live outside the user's job document.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from gs_stages.errors import StageError, available_cores

GIB = 1024**3


@dataclass(frozen=True)
class FramesSettings:
    #: Longest side of an output image; larger frames are downscaled (4K by default).
    max_image_side: int = 3840
    #: Zip refusal limits: number of members, total uncompressed bytes, per-member compression ratio.
    max_archive_files: int = 20_000
    max_archive_bytes: int = 20 * GIB
    max_compression_ratio: int = 200
    #: Relative blur filter for image sets: a frame is blurry when its sharpness is below
    #: `blur_fraction` x the median of the `blur_window` frames centred on it. 0.2 keeps every photo of
    #: the sharp real sets in shared/data (natural spread reaches 0.24 in unordered internet photos,
    #: 0.36 in sequences) and still catches a 1 px Gaussian blur on a 1024 px photo (about 0.05).
    blur_window: int = 7
    blur_fraction: float = 0.2
    jpeg_quality: int = 95
    #: Photos decoded at once (HEIC takes ~0.9 s a 12 MP photo on one core); 0, the default: every core
    #: this process may use, at most 8 (each photo in flight holds its full-size pixels).
    num_threads: int = 0

    @classmethod
    def from_mapping(cls, settings: dict[str, Any]) -> FramesSettings:
        """Read the known keys, refusing values that are not positive numbers (a typo must not pass)."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in settings:
                continue
            raw = settings[spec.name]
            kind = float if spec.type == "float" else int
            try:
                if isinstance(raw, bool):
                    raise ValueError
                value = kind(raw)
                if kind is int and isinstance(raw, float) and not raw.is_integer():
                    raise ValueError
            except (TypeError, ValueError):
                raise StageError(
                    f"setting {spec.name}={raw!r} is not a {'number' if kind is float else 'whole number'}",
                    hint=f"pass e.g. --setting {spec.name}={getattr(cls, spec.name)}",
                ) from None
            if value <= 0:
                raise StageError(f"setting {spec.name} must be positive, got {raw!r}")
            values[spec.name] = value
        result = cls(**values)
        if result.num_threads == 0:
            result = replace(result, num_threads=min(8, available_cores()))
        if result.blur_fraction >= 1:
            raise StageError(f"setting blur_fraction must be below 1, got {result.blur_fraction}")
        if not 1 <= result.jpeg_quality <= 100:
            raise StageError(f"setting jpeg_quality must be 1..100, got {result.jpeg_quality}")
        return result


#: The `--setting` names this stage reads (gs_stages.stage.check_settings refuses names no stage reads).
SETTING_NAMES: tuple[str, ...] = tuple(spec.name for spec in fields(FramesSettings))
