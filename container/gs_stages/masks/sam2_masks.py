"""The masks stage's side of SAM 2: find the Python that has `sam2`, run `sam2_video.py` there, read back.

SAM 2 needs torchvision, whose PyPI wheels only load with PyPI's torch build, not the CPU-only torch of
the development venv; so locally SAM 2 lives in a venv of its own (`make sam2`: .work/sam2-venv), and
the GPU image installs it next to the stages (its torch is PyPI's). Which Python runs it: the engine
setting `sam2_python`, else GS_SAM2_PYTHON, else this Python when it can import sam2, else the make-built
venv. A Python without sam2 is refused before any mask is written, saying how to build it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gs_stages.stage import StageError

PYTHON_SETTING = "sam2_python"
PYTHON_ENV = "GS_SAM2_PYTHON"
#: The venv `make sam2` builds, from the repository root this file lives in (container/gs_stages/masks/).
MAKE_VENV_PYTHON = Path(__file__).resolve().parents[3] / ".work" / "sam2-venv" / "bin" / "python"
RUNNER = Path(__file__).with_name("sam2_video.py")
#: A first-frame detection counts as "the person" from this score on (torchvision's detection examples' 0.8).
PERSON_SCORE = 0.8


def sam2_python(settings: Mapping[str, Any]) -> str:
    """The interpreter that runs SAM 2, checked to import sam2 and torchvision."""
    configured = str(settings.get(PYTHON_SETTING) or os.environ.get(PYTHON_ENV) or "").strip()
    if configured:
        candidate = configured
    elif importlib.util.find_spec("sam2") is not None:
        candidate = sys.executable
    else:
        candidate = str(MAKE_VENV_PYTHON)
    hint = (
        "build SAM 2's venv with `make sam2` (it lands in .work/sam2-venv), or name a Python that has the sam2 "
        f"package with the engine setting {PYTHON_SETTING} or {PYTHON_ENV}"
    )
    if not Path(candidate).is_file():
        raise StageError(f"background removal (sam2) needs a Python with sam2; {candidate} does not exist", hint)
    probe = subprocess.run(
        [candidate, "-c", "import sam2.build_sam, torchvision.models.detection"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise StageError(f"background removal (sam2): {candidate} cannot import sam2 and torchvision: {last}", hint)
    return candidate


def run_sam2(
    python: str,
    frames: list[Path],
    output: Path,
    checkpoint: Path,
    config: str,
    detector: Path,
    threshold: float,
    log: logging.Logger,
) -> dict[str, Any]:
    """Masks for `frames` (capture order) into `output`; the runner's result (prompt, per-frame coverage)."""
    request = {
        "frames": [str(p) for p in frames],
        "output": str(output),
        "checkpoint": str(checkpoint),
        "config": config,
        "detector": str(detector),
        "threshold": threshold,
        "person_score": PERSON_SCORE,
        "device": "auto",
    }
    with tempfile.TemporaryDirectory(prefix="gs-sam2-") as work:
        request_file, result_file = Path(work) / "request.json", Path(work) / "result.json"
        request_file.write_text(json.dumps(request))
        process = subprocess.Popen(
            [python, str(RUNNER), str(request_file), str(result_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        tail: deque[str] = deque(maxlen=20)
        assert process.stderr is not None
        for line in process.stderr:
            tail.append(line.rstrip())
            log.info("%s", line.rstrip())
        if process.wait() != 0 or not result_file.is_file():
            raise StageError(
                "background removal (sam2) failed: " + " | ".join(list(tail)[-6:]),
                hint=f"the SAM 2 checkpoint must be the one for {config} (engine setting sam2_model), and the "
                "detector torchvision's COCO Faster R-CNN ResNet-50 FPN state dict",
            )
        return json.loads(result_file.read_text())
