"""Dagster's own warnings that tell a user of this project nothing, silenced by exact message.

Each is about how Dagster is built, not about a job: a `dagster dev` that is superseded by `dg dev`
(the `dg` CLI is not part of this project), and the Pipes message handler reading a preview property
of its own reader on every launch. They are matched by their text, so any other warning of the same
category still shows.
"""

from __future__ import annotations

import warnings

import dagster as dg

#: PYTHONWARNINGS filters for the Dagster CLI processes `gs-dagster ui` starts.
CLI_FILTERS = (
    "ignore:Function `dev_command` is superseded",
    "ignore:Function `definitions_validate_command` is superseded",
)
#: Printed by Dagster's PipesMessageHandler in every run that launches a stage (dagster 1.13).
PIPES_PREVIEW = r"Function `PipesMessageReader\.expected_writer_count` is currently in preview"


def silence_code_location_notices() -> None:
    """Filter the notices raised while runs of the code location execute (the run worker imports it)."""
    warnings.filterwarnings("ignore", message=PIPES_PREVIEW, category=dg.PreviewWarning)


def with_cli_filters(environ: dict[str, str]) -> dict[str, str]:
    """`environ` with CLI_FILTERS added to whatever PYTHONWARNINGS already says."""
    env = dict(environ)
    existing = [w for w in env.get("PYTHONWARNINGS", "").split(",") if w]
    env["PYTHONWARNINGS"] = ",".join(dict.fromkeys([*existing, *CLI_FILTERS]))
    return env
