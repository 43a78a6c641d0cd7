"""bench/peer_nerfw.py scores the peer's photo|render PNGs by the NeRF-W protocol (left half fits, right scores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _canvas(path: Path, photo: np.ndarray, render: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.concatenate([photo, render], axis=1) * 255).round().astype(np.uint8)).save(path)


def _score(result: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'container'}")
    done = subprocess.run([sys.executable, "bench/peer_nerfw.py", str(result)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return {"rc": done.returncode, **json.loads(done.stdout.strip().splitlines()[-1])}


def test_colour_shift_is_forgiven_but_a_wrong_right_half_is_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    photo = rng.uniform(0.05, 0.95, (48, 64, 3))
    shifted = 0.6 * photo + 0.1  # a per-channel gain and offset: what appearance models explain
    broken = shifted.copy()
    broken[:, 32:] = rng.uniform(0.0, 1.0, (48, 32, 3))  # the right half (the scored one) is wrong
    _canvas(tmp_path / "a" / "renders" / "val_step6999_0000.png", photo, shifted)
    _canvas(tmp_path / "a" / "renders" / "val_step2999_0000.png", photo, broken)  # an earlier eval: ignored
    _canvas(tmp_path / "b" / "renders" / "val_step6999_0000.png", photo, broken)

    good, bad = _score(tmp_path / "a"), _score(tmp_path / "b")
    assert good["rc"] == 0 and good["step"] == 6999 and len(good["per_view"]) == 1
    assert good["psnr_nerfw"] > 40 > 20 > good["psnr_png"]  # the fit undoes the shift, plain PSNR does not
    assert bad["psnr_nerfw"] < 15


def test_no_renders_is_a_clear_failure(tmp_path: Path) -> None:
    out = _score(tmp_path)
    assert out["rc"] == 1 and not out["ok"] and "val_step" in out["error"]
