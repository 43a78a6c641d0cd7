"""bench/gpu_queue.py on a host of one GPU: a lane with "after" waits, so a timed pair runs alone.

Runs the real scheduler (detached, as on the GPU host) over `cmd` runs that record when they start and
end; the set-up (wheels, gsplat's JIT build) is skipped with SKIP_SETUP=1, as bench/README.md's smoke test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _stamp(name: str, sleep: float, out: Path) -> dict:
    cmd = (
        f"echo start $(date +%s.%N) > {out}/{name}; sleep {sleep}; echo end $(date +%s.%N) >> {out}/{name}; "
        f"echo '{{\"psnr\": 1.0}}'"
    )
    return {"side": "cmd", "key": name, "cmd": cmd}


def _times(path: Path) -> tuple[float, float]:
    rows = dict(line.split() for line in path.read_text().splitlines())
    return float(rows["start"]), float(rows["end"])


def test_after_lane_starts_when_the_timed_lane_is_done(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    plan = {
        "about": "one GPU: a timed pair, then a shared sweep",
        "lanes": [
            {"gpu": 0, "runs": [_stamp("timed_a", 1.0, stamps), _stamp("timed_b", 1.0, stamps)]},
            {"gpu": 0, "after": [0], "parallel": 2, "runs": [_stamp(n, 1.0, stamps) for n in ("sweep_c", "sweep_d")]},
        ],
        "pairs": [],
    }
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = dict(os.environ, SKIP_SETUP="1", STATE=str(tmp_path / "state"), OUT=str(tmp_path / "out"), PY=sys.executable)
    done = subprocess.run(
        [sys.executable, "bench/gpu_queue.py", "go", str(plan_path), "--max-s", "60"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    a, b = _times(stamps / "timed_a"), _times(stamps / "timed_b")
    c, d = _times(stamps / "sweep_c"), _times(stamps / "sweep_d")
    assert b[0] >= a[1], "the timed lane runs one at a time"
    assert min(c[0], d[0]) >= b[1], "the sweep waits for the timed lane"
    assert max(c[0], d[0]) < min(c[1], d[1]), "the sweep's runs share the GPU (run side by side)"

    records = {r["key"]: r for r in json.loads((tmp_path / "out" / "results.json").read_text())}
    names = ("timed_a", "timed_b", "sweep_c", "sweep_d")
    assert {k: r["status"] for k, r in records.items()} == dict.fromkeys(names, "ok")
    assert not records["timed_a"]["gpu_shared"] and records["sweep_c"]["gpu_shared"]
    assert "times not comparable" in (tmp_path / "out" / "summary.md").read_text()


def test_peer_run_passes_extra_trainer_flags(tmp_path: Path, monkeypatch) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import gpu_queue
    finally:
        sys.path.pop(0)
    for folder in ("gsplat-v1.5.3/examples", "pycolmap-cc7ea4b"):  # the carried .peer/ layout
        (tmp_path / folder).mkdir(parents=True)
    monkeypatch.setattr(gpu_queue, "PEER", tmp_path)
    run = {"side": "peer", "scene": "statue", "steps": 7000, "variant": "mcmc", "extra": ["--with_ut", "--with_eval3d"]}
    cmd = gpu_queue.command(run, Path("/tmp/result"))
    assert cmd[-3:] == ["--", "--with_ut", "--with_eval3d"]
    assert cmd[cmd.index("--mode") + 1] == "mcmc"
    assert "--" not in gpu_queue.command({**run, "extra": []}, Path("/tmp/result"))
