"""LPIPS through torchmetrics where torchvision loads (the GPU image; here the opt-in SAM 2 venv, `make sam2`):
gs_stages' value on weight files the probe writes equals a reference computation of LPIPS v0.1 from
torchvision's AlexNet layers, for torchvision's AlexNet file and for the lpips package's names, with
configured heads and with torchmetrics' packaged ones; incomplete weights say what is missing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.external_venvs import external_python

ROOT = Path(__file__).resolve().parents[2]
MAKE_VENV_PYTHON = ROOT / ".work" / "sam2-venv" / "bin" / "python"


def test_lpips_matches_the_reference_computation(tmp_path: Path) -> None:
    python = external_python(MAKE_VENV_PYTHON, "SAM 2", "sam2")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'container'}", "OMP_NUM_THREADS": "1"}
    env["TORCH_HOME"] = str(tmp_path / "no-torch-home")  # a download would land here: none may happen
    probe = [python, str(ROOT / "tests" / "stages" / "lpips_probe.py"), str(tmp_path)]
    done = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result)
    reference = result["reference"]
    assert reference > 0.01  # a real distance, not a degenerate zero
    for name in ("full", "lpips_named"):
        assert result[name]["value"] == pytest.approx(reference, rel=1e-4), name
        assert result[name]["same"] == pytest.approx(0.0, abs=1e-7)
        assert result[name]["source"] == "alex, v0.1 heads configured"
    assert result["packaged"]["value"] == pytest.approx(result["packaged_reference"], rel=1e-4)
    assert result["packaged"]["source"] == "alex, v0.1 heads packaged with torchmetrics"
    assert "no AlexNet features.10.weight, features.10.bias" in result["partial_reason"]
    assert not (tmp_path / "no-torch-home").exists()
