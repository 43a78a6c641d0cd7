"""The stage's process asks OpenMP for passive waiting before torch loads it, unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from gs_stages.openmp import prefer_passive_wait

PROBE = (
    "from gs_stages.openmp import prefer_passive_wait; import os, sys; "
    "first = prefer_passive_wait(); import torch; "
    "print(first, os.environ['OMP_WAIT_POLICY'], prefer_passive_wait())"
)


def _probe(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_passive_unless_the_environment_chose_a_policy() -> None:
    assert _probe() == "True PASSIVE False"  # after torch is imported it changes nothing
    assert _probe(OMP_WAIT_POLICY="ACTIVE") == "True ACTIVE False"


def test_too_late_once_torch_is_imported() -> None:
    import torch  # noqa: F401  (pytest's process has it already)

    before = os.environ.get("OMP_WAIT_POLICY")
    assert prefer_passive_wait() is False
    assert os.environ.get("OMP_WAIT_POLICY") == before
