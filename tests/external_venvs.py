"""The SAM 2 and nerfstudio venvs (`make sam2`, `make nerfstudio`, several GB each) are opt-in for tests: a
test that needs one skips without it, unless GS_TEST_EXTERNAL_VENVS is set, where its absence fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def external_python(python: Path, what: str, make_target: str) -> str:
    """`python` of the venv `what` lives in, or a skip (a failure under GS_TEST_EXTERNAL_VENVS) naming the target."""
    if not python.is_file():
        message = f"{what}'s venv is not built: make {make_target}"
        if os.environ.get("GS_TEST_EXTERNAL_VENVS"):
            pytest.fail(message + " (GS_TEST_EXTERNAL_VENVS is set)")
        pytest.skip(message)
    return str(python)
