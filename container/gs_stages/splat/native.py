"""Build and load the compiled CPU kernels in `csrc/` (the rasterizer, the SSIM loss).

Why one place: both are C++ torch extensions compiled with torch.utils.cpp_extension (g++ and ninja), with
the same flags; `make setup` does it (`python -m gs_stages.splat.render_cpu`), else the first use does.
`import_error` says why one cannot be used, so "auto" settings fall back to the PyTorch implementations.

Each build goes to `csrc/build/<name>-<hash of its source and flags>/`, compiled from a copy of the source kept
there: a folder holds one source text at one path, so another checkout of the same code (a clone, a worktree)
pointed at it with GS_NATIVE_BUILD_DIR loads the kernels already built instead of compiling them again (a
minute or two on a 2-core machine), and a changed source builds beside them, never over them.

Loads of one folder take turns under an flock of `gs.lock` there, which the kernel drops when its process dies:
torch's own lock (a `lock` file it deletes when done) outlives a process killed while it held it, and every later
load of that folder then waited for it for ever (a stage stopped by SIGKILL mid-build hung the next test).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CSRC = Path(__file__).parent / "csrc"
#: Where the builds go: GS_NATIVE_BUILD_DIR (shared by checkouts of the same code), else this checkout's csrc/build.
BUILD_DIR = Path(os.environ.get("GS_NATIVE_BUILD_DIR") or CSRC / "build")
# -ffast-math lets g++ vectorize exp and reductions; the tests bound the difference it makes.
CFLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp")
LDFLAGS = ("-fopenmp",)  # tuples: cpp_extension.load appends torch's own flags to the lists it is given


@functools.cache
def load(name: str) -> Any:
    """The compiled module `csrc/<name>.cpp` (built on first call; torch rebuilds it when the source changes)."""
    from torch.utils import cpp_extension

    source = build_source(name)
    with _turn(source.parent):
        return cpp_extension.load(
            name=f"gs_{name}",
            sources=[str(source)],
            build_directory=str(source.parent),
            extra_cflags=list(CFLAGS),
            extra_ldflags=list(LDFLAGS),
            verbose=False,
        )


@contextlib.contextmanager
def _turn(folder: Path) -> Iterator[None]:
    """This process's turn at the build folder; torch's `lock` found there now is a dead process's, so it goes."""
    with open(folder / "gs.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released by close, or by the kernel when the process dies
        (folder / "lock").unlink(missing_ok=True)
        yield


def build_source(name: str) -> Path:
    """The copy of `csrc/<name>.cpp` that its build folder compiles (one folder per source text and flags: torch
    writes one build.ninja per folder, and ninja rebuilds whatever names a different source path)."""
    text = (CSRC / f"{name}.cpp").read_bytes()
    digest = hashlib.sha256(text + repr((CFLAGS, LDFLAGS)).encode()).hexdigest()[:12]
    source = BUILD_DIR / f"{name}-{digest}" / f"{name}.cpp"
    if not source.is_file():  # written once, never replaced: a newer mtime would make ninja compile it again
        source.parent.mkdir(parents=True, exist_ok=True)
        partial = source.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(text)  # the text hashed, whatever the file holds by now
        try:
            os.link(partial, source)  # whole, and only if no other process got there first
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return source


def import_error(name: str) -> str | None:
    """None when `csrc/<name>.cpp` builds and loads, else why not (no compiler, no ninja, a build error)."""
    try:
        load(name)
    except Exception as exc:  # compiler missing, build failure, import failure
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    return None
