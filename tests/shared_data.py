"""Where the shared test data lives: `../shared/data` beside the repository (CI clones it there).

`GS_TEST_DATA` points elsewhere. Missing data is an error, never a silent skip: the acceptance tests
are about real data.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GS_TEST_DATA") or ROOT.parent / "shared" / "data")
if not (DATA / "README.md").is_file():
    raise RuntimeError(f"shared test data not found at {DATA}; set GS_TEST_DATA to the shared/data folder")
