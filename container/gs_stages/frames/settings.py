"""Engine settings of the frames stage that are not part of the job JSON (`--setting NAME=VALUE`).

They are limits an operator tunes per deployment (how large an upload may be, how large an image
the GPU can train on), so they live outside the user's job document. Typed and bounded in one pydantic
model (`gs_stages.settings_model`): a bad value is refused with the setting's name and what to pass.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from gs_stages.errors import available_cores
from gs_stages.settings_model import PositiveNumber, PositiveWhole, StageSettings, Whole

GIB = 1024**3


def _default_threads() -> int:
    return min(8, available_cores())


class FramesSettings(StageSettings):
    #: Longest side of an output image; larger frames are downscaled (4K by default).
    max_image_side: PositiveWhole = 3840
    #: Zip refusal limits: number of members, total uncompressed bytes, per-member compression ratio.
    max_archive_files: PositiveWhole = 20_000
    max_archive_bytes: PositiveWhole = 20 * GIB
    max_compression_ratio: PositiveWhole = 200
    #: Relative blur filter for image sets: a frame is blurry when its sharpness is below
    #: `blur_fraction` x the median of the `blur_window` frames centred on it. 0.2 keeps every photo of
    #: the sharp real sets in shared/data (natural spread reaches 0.24 in unordered internet photos,
    #: 0.36 in sequences) and still catches a 1 px Gaussian blur on a 1024 px photo (about 0.05).
    blur_window: PositiveWhole = 7
    blur_fraction: Annotated[PositiveNumber, Field(lt=1)] = 0.2
    jpeg_quality: Annotated[Whole, Field(ge=1, le=100)] = 95
    #: Photos decoded at once (HEIC takes ~0.9 s a 12 MP photo on one core); 0, the default: every core
    #: this process may use, at most 8 (each photo in flight holds its full-size pixels).
    num_threads: Annotated[Whole, Field(ge=0, validate_default=True)] = 0

    @field_validator("num_threads")
    @classmethod
    def _every_core(cls, value: int) -> int:
        return value or _default_threads()


#: The `--setting` names this stage reads (gs_stages.stage.check_settings refuses names no stage reads).
SETTING_NAMES: tuple[str, ...] = FramesSettings.setting_names()
