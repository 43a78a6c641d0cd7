"""Where a launch's stages write, and how a complete staged output replaces the stored one.

Stages write into a staging root (`<root>/.staging/...`: a hidden folder beside the outputs locally, a key
prefix on S3), never into `<root>/<stage>/<uuid>/`. Promotion puts a complete staged output in place:
locally two renames (the old output parked for the instant between them, recovered if a process dies
there), on a store a server-side copy with metrics.json and the completion marker last, then the stale keys
removed. What is judged complete, and what Dagster is told, is resources/stage_outputs.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from gs_dagster.resources.storage import Store
from gs_stages.layout import COMPLETE_MARKER, METRICS_JSON
from gs_stages.stage import STAGE_ORDER

#: Hidden folder (local) or key prefix (S3) under the storage root that holds the launches' staging roots.
STAGING = ".staging"
#: Where a local promotion parks the output it replaces, for the instant between two renames.
_REPLACED = ".{uuid}.replaced"
#: Written last into a staged output (metrics.json before it), so they are copied last when promoting.
_LAST = (METRICS_JSON, COMPLETE_MARKER)


# -- local storage ---------------------------------------------------------------------------------------
def recover_local(root: Path, stage: str, uuid: str) -> None:
    """Finish a promotion that a killed process left between its two renames."""
    final = root / stage / uuid
    replaced = final.with_name(_REPLACED.format(uuid=uuid))
    if replaced.exists():
        if final.exists():
            shutil.rmtree(replaced, ignore_errors=True)
        else:
            replaced.rename(final)


def local_staging(root: Path, uuid: str, inputs: Iterable[str]) -> Path:
    """A new staging root in `<root>/.staging/` (same file system: promotion is a rename), with the
    stored outputs the stages read (`inputs`) linked in. Staging roots of launches whose process is
    gone (a killed Dagster step) are removed first."""
    base = root / STAGING
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob(f"{uuid}.*"):
        pid = old.name.split(".")[1] if old.name.count(".") >= 2 else ""
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    for stage in STAGE_ORDER:  # a promotion cut short puts its stage back before anything reads it
        recover_local(root, stage, uuid)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=f"{uuid}.{os.getpid()}."))
    for name in inputs:
        stored = root / name / uuid
        if stored.exists():
            link = staging / name / uuid
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(stored, target_is_directory=True)
    return staging


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def promote_local(staged: Path, root: Path, stage: str, uuid: str) -> Path:
    """Put a complete staged output in place of the stored one: two renames, the old one removed last."""
    recover_local(root, stage, uuid)
    final = root / stage / uuid
    final.parent.mkdir(parents=True, exist_ok=True)
    replaced = final.with_name(_REPLACED.format(uuid=uuid))
    if final.exists() or final.is_symlink():
        final.rename(replaced)
    staged.rename(final)
    shutil.rmtree(replaced, ignore_errors=True)
    return final


# -- S3 (or any store) -----------------------------------------------------------------------------------
def staging_prefix(launch: str) -> str:
    """The staging root of one launch, relative to the storage root (a SageMaker job name, a run id)."""
    return f"{STAGING}/{launch}"


def promote_prefix(store: Store, staged: str, final: str) -> int:
    """Copy a staged output over the stored one (server-side on S3; metrics.json and the marker last),
    then remove the stored keys the new output does not have. Until the copy starts the old output is
    untouched; returns the number of objects copied."""
    objects = list(store.iter_objects(staged.rstrip("/") + "/"))
    names = {obj.key[len(staged.rstrip("/")) + 1 :]: obj.key for obj in objects}
    for name in sorted(names, key=lambda n: (_LAST.index(n) if n in _LAST else -1, n)):
        store.copy_to(names[name], store, f"{final}/{name}")
    stale = [obj.key for obj in store.iter_objects(final.rstrip("/") + "/") if obj.key[len(final) + 1 :] not in names]
    store.delete_keys(stale)
    return len(names)


def stored_marker(store: Store, prefix: str) -> bool:
    return store.head(f"{prefix}/{COMPLETE_MARKER}") is not None and store.head(f"{prefix}/{METRICS_JSON}") is not None


def linked_copy(staged: Path) -> Path:
    """A copy of a finished staged output made of hard links (no bytes copied), beside it."""
    copy = staged.with_name(f".{staged.name}.promoting")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(staged, copy, symlinks=True, copy_function=os.link)
    return copy
