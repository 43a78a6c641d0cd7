"""The numeric and choice settings of the code location, typed once (pydantic) and read from the environment.

One model instead of hand-written parsers: each field names its variable (`validation_alias`), its type
and its bounds, so a bad value is refused when the code location loads, with the variable's name, what
was given and what it must be, every bad variable at once. An unset or empty variable takes the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError, field_validator

from gs_stages.quality_checks import DEFAULT_MIN_PSNR, DEFAULT_MIN_REGISTERED_RATIO, DEFAULT_WARN_PSNR

#: What each kind of pydantic error means for an environment variable, in words.
_EXPECTED = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "literal_error": "one of {expected}",
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than_equal": "at most {le}",
    "json_invalid": 'a JSON object, e.g. {{"max_image_side": 800}}',
    "json_type": 'a JSON object, e.g. {{"max_image_side": 800}}',
    "dict_type": 'a JSON object, e.g. {{"max_image_side": 800}}',
}


class EnvSettings(BaseModel):
    """Settings read from GS_* variables (docs/OPERATING.md lists them with their defaults)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    media_wait_s: float = Field(300.0, ge=0, validation_alias="GS_MEDIA_WAIT_S")
    sensor_interval_s: int = Field(30, gt=0, validation_alias="GS_SENSOR_INTERVAL_S")
    max_keys_per_tick: int = Field(5000, gt=0, validation_alias="GS_INTAKE_MAX_KEYS_PER_TICK")
    max_new_jobs_per_tick: int = Field(50, gt=0, validation_alias="GS_INTAKE_MAX_NEW_JOBS_PER_TICK")
    tick_budget_s: float = Field(20.0, gt=0, validation_alias="GS_INTAKE_TICK_BUDGET_S")
    min_registered_ratio: float = Field(
        DEFAULT_MIN_REGISTERED_RATIO, ge=0, le=1, validation_alias="GS_MIN_REGISTERED_RATIO"
    )
    min_psnr_db: float = Field(DEFAULT_MIN_PSNR, ge=0, validation_alias="GS_MIN_PSNR_DB")
    warn_psnr_db: float = Field(DEFAULT_WARN_PSNR, ge=0, validation_alias="GS_WARN_PSNR_DB")
    progress_interval_s: float = Field(20.0, gt=0, validation_alias="GS_PROGRESS_INTERVAL_S")
    launcher: Literal["local", "sagemaker"] = Field("local", validation_alias="GS_LAUNCHER")
    #: Engine settings for every stage (names and values checked by gs_stages.stage.check_settings in config.py).
    stage_settings: Json[dict[str, Any]] = Field(default_factory=dict, validation_alias="GS_STAGE_SETTINGS")

    @field_validator("launcher", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EnvSettings:
        """The settings in `env`; ValueError naming every bad variable, its value and what it must be."""
        aliases = [field.validation_alias for field in cls.model_fields.values()]
        given = {name: env[name].strip() for name in aliases if isinstance(name, str) and (env.get(name) or "").strip()}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise ValueError("\n".join(_problem(error, given) for error in exc.errors())) from None


def _problem(error: Mapping[str, Any], given: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error.get("loc") else "?"
    template = _EXPECTED.get(error["type"])
    context = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in (error.get("ctx") or {}).items()}
    expected = template.format(**context) if template else error["msg"]
    return f"{name} must be {expected}, got {given.get(name)!r}"
