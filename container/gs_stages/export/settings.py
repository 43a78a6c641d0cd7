"""Engine settings of the spz stage (`--setting NAME=VALUE`), typed and bounded in one pydantic model
(`gs_stages.settings_model`), so the Dagster side (no engine installed) checks them too. What each does:
`stage.py` (`output_name`, `antialiased`, `spz_version`), `flythrough.py` (fly-through and thumbnail; an
unset size takes the device's default there), `sog.py` (.sog export)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from gs_stages.settings_model import PositiveNumber, StageSettings, Whole, refused

#: The SPZ versions we write (gs_stages/export/spz.py writes them); `spz_version` picks one.
SPZ_VERSIONS = (3, 4)
DEFAULT_SPZ_VERSION = 3


def _spz_version(value: int) -> int:
    if value not in SPZ_VERSIONS:
        shown = " or ".join(map(str, SPZ_VERSIONS))
        raise refused("is not an SPZ version we write", f"use {shown} (default {DEFAULT_SPZ_VERSION})")
    return value


def _plain_name(value: str | None) -> str | None:
    if value is not None and ("/" in value or "\\" in value or value in (".", "..")):
        raise refused("is not a plain file name", "use letters, digits, -, _")
    return value or None


def _sog_mode(value: object) -> object:
    """auto, or a true/false spelling (true, 1, yes / false, 0, no) -> "on"/"off"."""
    text = str(value).strip().lower()
    modes = {"auto": "auto", "true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}
    if text not in modes:
        raise refused("is not auto, true or false", "sog=auto (default), true or false")
    return modes[text]


Side = Annotated[Whole, Field(ge=16)]


class ExportSettings(StageSettings):
    output_name: Annotated[str | None, AfterValidator(_plain_name)] = None
    antialiased: bool = False
    spz_version: Annotated[Whole, AfterValidator(_spz_version)] = DEFAULT_SPZ_VERSION
    flythrough: bool = True
    flythrough_seconds: PositiveNumber | None = None
    flythrough_fps: Annotated[Whole, Field(ge=1)] | None = None
    flythrough_long_side: Side | None = None
    thumbnail: bool = True
    thumbnail_long_side: Side | None = None
    sog: Annotated[Literal["auto", "on", "off"], BeforeValidator(_sog_mode)] = "auto"
    sog_sh_iterations: Annotated[Whole, Field(ge=0)] = 10


#: The `--setting` names this stage reads (gs_stages.stage.check_settings refuses names no stage reads).
SETTING_NAMES: tuple[str, ...] = ExportSettings.setting_names()
