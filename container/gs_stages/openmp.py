"""OpenMP threads that sleep when idle (`OMP_WAIT_POLICY=PASSIVE`), unless the environment says otherwise.

Why: torch's CPU operators and the compiled CPU kernels (splat/csrc) run on OpenMP threads, which by
default spin after each parallel region waiting for the next. On a machine that other work shares
(the 2-core development VM, a laptop, CI), a spinning thread holds a core the other threads of the
same step need: CPU training at 2 threads measured 1.9 steps/s with spinning and 41 steps/s with
passive waiting on kermit at 320x240 under the same load (docs/BENCHMARKS.md, issue #21). The policy
is read once, when the OpenMP runtime loads with torch, so `prefer_passive_wait()` must run before the
first `import torch` of the process (the stage's `python -m gs_stages`, the CPU benchmarks).
"""

from __future__ import annotations

import os
import sys


def prefer_passive_wait() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless it is set; False (and nothing changed) once torch is imported."""
    if "torch" in sys.modules:
        return False
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return True
