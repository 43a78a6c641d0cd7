"""Loosely typed job JSON values and the section base every job JSON model shares.

Documents written for the AWS systems carry booleans and numbers as strings ("true", "300"), so each
value type accepts those and nothing looser. Both job forms (`jobspec`, `job_guidance`) use them, so a
value means the same in either.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def loose_bool(value: Any) -> Any:
    """JSON booleans, or the strings "true"/"false" in any letter case (and nothing looser)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f'expected true or false (a JSON boolean or the string "true"/"false"), got {value!r}')


def loose_int(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
            if number is not None and number.is_integer():
                return int(number)
    raise ValueError(f"expected an integer (a number or a numeric string), got {value!r}")


def loose_float(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a number (or a numeric string), got {value!r}")


def fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:  # also false for nan
        raise ValueError(f"must be a number between 0 and 1, got {value!r}")
    return value


LooseBool = Annotated[bool, BeforeValidator(loose_bool)]
LooseInt = Annotated[int, BeforeValidator(loose_int)]
LooseFloat = Annotated[float, BeforeValidator(loose_float)]


class Section(BaseModel):
    # Only the JSON keys are input: a field's Python name ("max_steps") is an unknown key like any typo.
    model_config = ConfigDict(extra="forbid", frozen=True)
