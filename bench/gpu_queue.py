#!/usr/bin/env python3
"""Run a plan of training runs over the GPUs of one host, detached, across several device calls.

Why not `gpu_compare.sh` alone: it runs one thing at a time and a device call lasts at most 10
minutes, while a 30,000-step run of the peer takes longer than that, and a host with four GPUs can run
four timed runs at once, one per GPU. This script keeps `gpu_compare.sh` for the set-up (wheels, gsplat's
JIT build, fused-ssim) and the scenes, and adds a scheduler that outlives the call (`setsid`): calling
the same command again on the still-warm machine waits for the runs in flight and collects them.

A plan is a JSON file of lanes; each lane is a list of runs executed one after another on one GPU
(`gpu`), `parallel` of them at a time (1 for timed runs; more only for quality sweeps, whose times
then mean nothing and are marked so). Lanes run side by side, except a lane with `"after": [i, ...]`,
which starts once lanes i, ... are done: on a host of one GPU, a timed pair runs alone first and the
quality sweep that shares the GPU follows it. A run is one of
  {"side": "peer", "scene": S, "steps": N, "variant": "default" | "mcmc", "extra": [tyro args], "tag": T}
  {"side": "ours", "scene": S, "steps": N, "variant": PRESET, "override": {...}, "setting": {...},
   "tag": "name of the variant"}
  {"side": "cmd", "key": K, "cmd": "...", "result": "path of the JSON it writes"}
Records land in $STATE/runs/<key>.json in gpu_compare.sh's format (key scene__steps__side__variant).

    python3 bench/gpu_queue.py go bench/plans/sweep.json --max-s 540    # on the GPU host, each call
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from queue_report import pack, summary

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("STATE", "/tmp/gsbench"))
SITE = os.environ.get("SITE", "/tmp/site")
PY = os.environ.get("PY", "python3")
PEER = REPO / ".peer"
TEST_EVERY = 8


def run_key(run: dict[str, Any]) -> str:
    if run["side"] == "cmd":
        return run["key"]
    variant = run.get("tag") or run["variant"]
    return f"{run['scene']}__{run['steps']}__{run['side']}__{variant}"


def command(run: dict[str, Any], result: Path) -> list[str]:
    scene = STATE / "scenes" / run.get("scene", "")
    if run["side"] == "peer":
        examples = next(PEER.glob("gsplat-v1.5.3/examples"))
        pycolmap = next(PEER.glob("pycolmap-*"))
        return [PY, "bench/peer_trainer.py", "--examples", str(examples), "--pycolmap", str(pycolmap),
                "--mode", run["variant"], "--data-dir", str(scene), "--result-dir", str(result),
                "--steps", str(run["steps"]), "--test-every", str(TEST_EVERY), "--data-factor", "1",
                *(["--", *run["extra"]] if run.get("extra") else [])]  # fmt: skip
    if run["side"] == "ours":
        cmd = [PY, "bench/train_bench.py", "--data", str(scene), "--preset", run["variant"],
               "--steps", str(run["steps"]), "--test-every", str(TEST_EVERY), "--output", str(result)]  # fmt: skip
        for name, value in run.get("override", {}).items():
            cmd += ["--override", f"{name}={json.dumps(value)}"]
        for name, value in run.get("setting", {}).items():
            cmd += ["--setting", f"{name}={json.dumps(value)}"]
        return cmd
    return ["bash", "-c", run["cmd"]]


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def execute(run: dict[str, Any], gpu: int, shared: bool, attempts: int = 2) -> None:
    """Run once; a failed run (not a timed-out one) is run once more, its first log kept as .log.1.

    Round 2 lost two peer runs to a transient FileNotFoundError on a frame that was there."""
    key = run_key(run)
    record_path = STATE / "runs" / f"{key}.json"
    if record_path.exists():
        return
    for attempt in range(1, attempts + 1):
        record = _attempt(run, key, gpu, shared)
        record["attempt"] = attempt
        if record["status"] == "ok" or attempt == attempts:
            break
        log_path = STATE / "logs" / f"{key}.log"
        log_path.rename(log_path.with_suffix(f".log.{attempt}"))
    record_path.write_text(json.dumps(record, indent=2))


def _attempt(run: dict[str, Any], key: str, gpu: int, shared: bool) -> dict[str, Any]:
    result = STATE / "results" / key
    result.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        CUDA_VISIBLE_DEVICES=str(gpu),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=f"{REPO / 'container'}:{SITE}",  # as gpu_compare.sh sets it for its runs
        TORCH_EXTENSIONS_DIR=str(STATE / "torch_extensions"),  # gsplat's JIT build, warmed by the set-up
        TORCH_CUDA_ARCH_LIST=os.environ.get("TORCH_CUDA_ARCH_LIST", "9.0"),
    )
    cmd = command(run, result)
    log_path = STATE / "logs" / f"{key}.log"
    start = time.time()
    with open(log_path, "w") as log:
        log.write(f"# GPU {gpu}{' (shared)' if shared else ''}: {shlex.join(cmd)}\n")
        log.flush()
        rc = subprocess.call(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    text = log_path.read_text(errors="replace")
    reported = last_json(text)
    if run["side"] == "cmd" and run.get("result") and Path(run["result"]).exists():
        reported = json.loads(Path(run["result"]).read_text())
    status = "ok" if rc == 0 and reported is not None else "failed"
    return {"key": key, "side": run["side"], "variant": run.get("tag") or run.get("variant"),
            "steps": run.get("steps"), "scene": run.get("scene"), "gpu": gpu, "gpu_shared": shared,
            "status": status, "rc": rc, "process_wall_s": round(wall, 2), "run": run,
            "reported": reported}  # fmt: skip


def lane_worker(lane: dict[str, Any], done: list[threading.Event] | None = None) -> None:
    for index in lane.get("after", []):  # lanes that must finish first (a timed pair before a shared sweep)
        if done is not None:
            done[index].wait()
    parallel = int(lane.get("parallel", 1))
    runs = list(lane["runs"])
    if parallel <= 1:
        for run in runs:
            execute(run, lane["gpu"], shared=False)
        return
    slots = threading.Semaphore(parallel)
    threads = []
    for run in runs:
        slots.acquire()

        def one(run: dict[str, Any] = run) -> None:
            try:
                execute(run, lane["gpu"], shared=True)
            finally:
                slots.release()

        thread = threading.Thread(target=one)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


def serve(plan_path: Path) -> None:
    """The detached scheduler: set-up and scenes, then every lane in its own thread."""
    plan = json.loads(plan_path.read_text())
    scenes = sorted({r["scene"] for lane in plan["lanes"] for r in lane["runs"] if "scene" in r})
    # gpu_compare.sh with no sides: only its set-up and the scenes' COLMAP layouts under $STATE/scenes
    env = dict(os.environ, SCENES=" ".join(scenes), SIDES="", OUT=str(STATE / "setup_out"), STATE=str(STATE))
    with open(STATE / "setup_scenes.log", "w") as log:
        subprocess.call(["bash", "bench/gpu_compare.sh"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    done = [threading.Event() for _ in plan["lanes"]]

    def work(index: int, lane: dict[str, Any]) -> None:
        try:
            lane_worker(lane, done)
        finally:
            done[index].set()

    threads = [threading.Thread(target=work, args=(i, lane)) for i, lane in enumerate(plan["lanes"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (STATE / "plan.done").write_text(str(time.time()))


def go(plan_path: Path, max_s: float) -> int:
    t0 = time.time()
    for sub in ("runs", "logs", "results", "scenes"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    plan = json.loads(plan_path.read_text())
    pid_file = STATE / "scheduler.pid"
    alive = False
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), 0)
            alive = True
        except (OSError, ValueError):
            alive = False
    if not alive:
        (STATE / "plan.done").unlink(missing_ok=True)  # a new call re-runs whatever is not ok yet
        for record in (STATE / "runs").glob("*.json"):  # a fresh scheduler retries what failed before
            if json.loads(record.read_text()).get("status") != "ok":
                record.unlink()
        with open(STATE / "scheduler.log", "a") as log:
            proc = subprocess.Popen(
                [sys.executable, __file__, "serve", str(plan_path)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        pid_file.write_text(str(proc.pid))
        print(f"scheduler started (pid {proc.pid})", flush=True)
    else:
        print("scheduler already running", flush=True)
    out = Path(os.environ.get("OUT", REPO / ".work" / "gpu_queue"))
    while time.time() - t0 < max_s and not (STATE / "plan.done").exists():
        time.sleep(10)
        pack(plan, out, STATE)  # keep $OUT current: whatever the call's end, it returns what is done
    pack(plan, out, STATE)
    print(summary(plan, STATE))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("go", "serve", "summary"))
    parser.add_argument("plan")
    parser.add_argument("--max-s", type=float, default=540)
    args = parser.parse_args()
    if args.action == "serve":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        serve(Path(args.plan))
        return 0
    if args.action == "summary":
        print(summary(json.loads(Path(args.plan).read_text()), STATE))
        return 0
    return go(Path(args.plan), args.max_s)


if __name__ == "__main__":
    sys.exit(main())
