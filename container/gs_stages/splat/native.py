"""Build and load the compiled CPU kernels in `csrc/` (the rasterizer, the SSIM loss).

Why one place: both are C++ torch extensions compiled once per checkout with torch.utils.cpp_extension
(g++ and ninja) into `csrc/build/<name>/`, with the same flags; `make setup` does it
(`python -m gs_stages.splat.render_cpu`), else the first use does. `import_error` says why one cannot be
used, so "auto" settings fall back to the PyTorch implementations.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

CSRC = Path(__file__).parent / "csrc"
BUILD_DIR = CSRC / "build"


@functools.cache
def load(name: str) -> Any:
    """The compiled module `csrc/<name>.cpp` (built on first call; torch rebuilds it when the source changes)."""
    from torch.utils import cpp_extension

    build = BUILD_DIR / name  # one folder each: torch writes one build.ninja per folder
    build.mkdir(parents=True, exist_ok=True)
    return cpp_extension.load(
        name=f"gs_{name}",
        sources=[str(CSRC / f"{name}.cpp")],
        build_directory=str(build),
        # -ffast-math lets g++ vectorize exp and reductions; the tests bound the difference it makes.
        extra_cflags=["-O3", "-march=native", "-ffast-math", "-fopenmp"],
        extra_ldflags=["-fopenmp"],
        verbose=False,
    )


def import_error(name: str) -> str | None:
    """None when `csrc/<name>.cpp` builds and loads, else why not (no compiler, no ninja, a build error)."""
    try:
        load(name)
    except Exception as exc:  # compiler missing, build failure, import failure
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    return None
