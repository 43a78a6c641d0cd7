"""Test helpers: a minimal valid job, and running one stage the way the CLI does."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gs_stages.cli import run_stage
from gs_stages.jobspec import JobSpec, parse_job

MINIMAL_JOB: dict[str, Any] = {
    "uuid": "stage-test",
    "s3": {"bucketName": "test-bucket", "inputKey": "media.zip"},
}


#: spz stage settings for tests about something else than its pictures and .sog: none are made (the
#: fly-through renders on the CPU and splat-transform takes seconds; tests/stages/test_export_media.py covers them).
SPLAT_FILES_ONLY: dict[str, Any] = {"flythrough": "false", "thumbnail": "false", "sog": "false"}


def make_spec(input_key: str = "media.zip", **overrides: Any) -> JobSpec:
    """A validated job; `overrides` are dotted JSON paths, e.g. **{"videoProcessing.maxNumImages": 12}."""
    document = copy.deepcopy(MINIMAL_JOB)
    document["s3"]["inputKey"] = input_key
    spec = parse_job(document)
    return spec.with_overrides(overrides) if overrides else spec


def run_frames(spec: JobSpec, media: Path, output: Path, **settings: Any) -> dict[str, Any]:
    """Run the frames stage in-process through the CLI's runner (which also writes metrics.json)."""
    return run_stage("frames", spec, {"media": media}, output, settings)


#: Engine settings of CPU training tests: the compiled CPU rasterizer, which backend "auto" trains with on a CPU, 2-12x
#: faster than the PyTorch renderer (the reference test_render_cpu.py checks it against). test_splat_data_parallel.py
#: keeps the PyTorch one: with this one its single process scored 25.25 dB and its two ranks 23.86, past the test's
#: 1 dB (PyTorch: 24.59 and 23.92; session 10).
COMPILED: dict[str, Any] = {"backend": "cpu"}


def train_splat(
    scene: Any,
    output: Path,
    steps: int,
    preset_overrides: Mapping[str, Any],
    model: str = "splatfacto",
    job: Mapping[str, Any] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Run the splat stage on a test scene's `frames` and `sparse` folders as the CPU training tests do: the
    PyTorch renderer, photos at full size, `model` for `steps`; `job` adds job options (dotted paths)."""
    spec = make_spec(**{"training.maxSteps": steps, "training.model": model, **(job or {})})
    engine = {"device": "cpu", "backend": "torch", "image_downscale": 1, "preset_overrides": preset_overrides}
    return run_stage(
        "splat", spec, {"frames": scene.frames, "sparse_model": scene.sparse}, output, {**engine, **settings}
    )
