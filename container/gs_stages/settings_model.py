"""The typed base of every stage's engine settings (`--setting NAME=VALUE`, GS_STAGE_SETTINGS, tests).

Each stage declares its settings once as a pydantic model: the field's type and bounds are the rule, its
alias the setting's name, its default what an unset setting means. `from_mapping` reads the stage's own
names from the one settings dict of a chain (other stages' names are ignored here; a name no stage reads
is refused by `gs_stages.stage.check_settings`) and turns pydantic's errors into one StageError that names
every bad setting, what was given, what it must be, and what to pass. It imports only pydantic and the
leaf `gs_stages.errors`, so the Dagster side (no engine installed) checks values too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError, PydanticUndefined

from gs_stages.errors import StageError

#: What each kind of pydantic error means for a setting, in words ({...}: the error's context).
_EXPECTED = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "not_number": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a text",
    "dict_type": "a JSON object",
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "below {lt}",
    "less_than_equal": "at most {le}",
}
#: Type errors read "setting x='big' is not a whole number"; bounds "setting x must be at least 1, got 0".
_TYPE_ERRORS = {
    "not_number",
    "int_parsing",
    "int_from_float",
    "int_type",
    "float_parsing",
    "float_type",
    "bool_parsing",
    "bool_type",
}


def _no_bool(value: Any) -> Any:
    """A JSON true/false is not a number (pydantic's lax mode would read True as 1)."""
    if isinstance(value, bool):
        raise PydanticCustomError("not_number", "not a number")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise PydanticCustomError("positive", "positive")
    return value


#: A whole number (3, "3", 3.0; not 3.5 nor true).
Whole = Annotated[int, BeforeValidator(_no_bool)]
#: A number (0.2, "0.2", 1; not true).
Number = Annotated[float, BeforeValidator(_no_bool)]
PositiveWhole = Annotated[Whole, AfterValidator(_positive)]
PositiveNumber = Annotated[Number, AfterValidator(_positive)]


def one_of(*choices: str) -> AfterValidator:
    """A text setting that must be one of `choices` ("must be auto, cpu or torch")."""

    def check(value: str) -> str:
        if value not in choices:
            raise PydanticCustomError("choice", "{choices}", {"choices": spoken_choices(choices)})
        return value

    return AfterValidator(check)


def spoken_choices(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


def auto_or_at_least(minimum: int) -> BeforeValidator:
    """ "auto" or a whole number >= `minimum` (what `image_downscale` and `train_max_side` take)."""

    def check(value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        raise PydanticCustomError("choice", "'auto' or an integer >= {minimum}", {"minimum": minimum})

    return BeforeValidator(check)


class StageSettings(BaseModel):
    """Base of a stage's settings model: frozen, other stages' names ignored, fields named by alias."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The `--setting` names this model reads (a field's alias, else its name)."""
        return tuple(field.alias or name for name, field in cls.model_fields.items())

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> Self:
        """This stage's settings from the chain's one settings dict; StageError naming every bad value."""
        names = set(cls.setting_names())
        given = {name: value for name, value in settings.items() if name in names}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise settings_error(cls, exc, given) from None


def settings_error(model: type[StageSettings], exc: ValidationError, given: Mapping[str, Any]) -> StageError:
    """One StageError for every problem pydantic found: "setting x must be ..., got ..."; what to pass."""
    errors = exc.errors()
    problems = [_problem(error, given) for error in errors]
    hints = [str((error.get("ctx") or {}).get("hint") or _example(model, _name(error))) for error in errors]
    return StageError("; ".join(problems), hint="; ".join(dict.fromkeys(h for h in hints if h)) or None)


def refused(why: str, hint: str) -> PydanticCustomError:
    """A value a validator refuses: "setting NAME=VALUE <why>", with `hint` as what to try."""
    return PydanticCustomError("refused", "{why}", {"why": why, "hint": hint})


def _name(error: Mapping[str, Any]) -> str:
    return str(error["loc"][0]) if error.get("loc") else "?"


def _problem(error: Mapping[str, Any], given: Mapping[str, Any]) -> str:
    name = _name(error)
    kind = error["type"]
    if kind == "positive":
        expected = "positive"
    elif kind == "choice":
        expected = error["msg"]
    else:
        context = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in (error.get("ctx") or {}).items()
        }
        template = _EXPECTED.get(kind)
        expected = template.format(**context) if template else error["msg"]
    value = given.get(name)
    if kind == "refused":
        return f"setting {name}={value!r} {error['msg']}"
    if kind in _TYPE_ERRORS:
        return f"setting {name}={value!r} is not {expected}"
    return f"setting {name} must be {expected}, got {value!r}"


def _example(model: type[StageSettings], name: str) -> str:
    """`--setting name=<default>` for a setting with a plain default, else ''."""
    for attribute, field in model.model_fields.items():
        if (field.alias or attribute) == name:
            default = field.get_default(call_default_factory=True)
            if default is PydanticUndefined or default is None or isinstance(default, dict):
                return ""
            shown = str(default).lower() if isinstance(default, bool) else default
            return f"pass e.g. --setting {name}={shown}"
    return ""
