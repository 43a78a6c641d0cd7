"""`<name>.sog`: PlayCanvas' SOG (a zip of WebP images: positions, quaternions, codebook-indexed scales,
colours and a k-means palette of the SH bands), written by PlayCanvas' own `splat-transform` CLI.

Why the CLI and not our own writer: SOG's size comes from splat-transform's k-means of the SH
coefficients and its codebooks; re-implementing them would be a second, unreviewed encoder of a format
PlayCanvas still changes. The CLI is pinned (`SPLAT_TRANSFORM_VERSION`, installed by `make viewer`
into `gs_dagster/viewer/web/node_modules` beside the viewer's renderer, and in the GPU image with its own node
under /opt/splat-transform) and run on the CPU (`-g cpu`:
no WebGPU adapter in our containers). Its cost grows with the Gaussian count and the SH iterations
(engine setting `sog_sh_iterations`, splat-transform's default 10); docs/BENCHMARKS.md has figures.

Engine settings of the spz stage: `sog` = "auto" (write it when the CLI is installed, else say so in the
metrics), true (a missing CLI fails the stage), false (skip); `sog_sh_iterations` = 10.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gs_stages.export.settings import ExportSettings
from gs_stages.stage import StageError

SPLAT_TRANSFORM_VERSION = "3.10.2"
#: Where `make viewer` installs it (the repository checkout), then $GS_SPLAT_TRANSFORM, then PATH.
_REPO_BIN = Path(__file__).resolve().parents[3] / "gs_dagster" / "viewer" / "web" / "node_modules" / ".bin"
#: Where the GPU image installs it (container/Dockerfile's splat-transform stage, with node on PATH).
IMAGE_BIN = Path("/opt/splat-transform/node_modules/.bin/splat-transform")
TIMEOUT_S = 3600


def splat_transform() -> str | None:
    """The splat-transform executable, or None."""
    configured = os.environ.get("GS_SPLAT_TRANSFORM")
    if configured:
        return configured if Path(configured).is_file() else None
    for installed in (_REPO_BIN / "splat-transform", IMAGE_BIN):
        if installed.is_file():
            return str(installed)
    return shutil.which("splat-transform")


def write_sog(ply: Path, target: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Convert the delivered `.ply` to `target` (.sog); the metrics say what happened."""
    sog = ExportSettings.from_mapping(settings)
    mode = sog.sog
    if mode == "off":
        return {"sog": "off (engine setting sog=false)"}
    tool = splat_transform()
    if tool is None:
        if mode == "on":
            raise StageError(
                "sog=true but splat-transform is not installed",
                hint="run `make viewer` (or npm i -g @playcanvas/splat-transform), set GS_SPLAT_TRANSFORM, or sog=auto",
            )
        return {"sog": "not written: splat-transform is not installed (make viewer)"}
    iterations = sog.sog_sh_iterations
    command = [tool, "-q", "-w", "-g", "cpu", "-i", str(iterations), str(ply), str(target)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        done = None
        problem = str(exc)
    else:
        problem = (done.stderr or done.stdout).strip()[-500:] if done.returncode else ""
    if done is None or done.returncode or not target.is_file():
        target.unlink(missing_ok=True)
        if mode == "on":
            raise StageError(f"splat-transform could not write the .sog: {problem}", hint="or set sog=auto / false")
        return {"sog": f"not written: splat-transform failed: {problem}"}
    return {
        "sog": "written",
        "sog_file": target.name,
        "sog_bytes": target.stat().st_size,
        "sog_seconds": round(time.perf_counter() - started, 3),
        "sog_writer": f"splat-transform {SPLAT_TRANSFORM_VERSION}",
    }
