#!/usr/bin/env python3
"""Write session 7's plans for ONE H200 (issue #18): `python3 bench/plans/h200_s7.py`.

Why a separate file: make_plans.py holds the four-GPU rounds of issue #5; on one GPU a device call
(at most 10 minutes) holds one timed pair, run alone, and then a quality sweep that shares the GPU
(`"after"` in bench/gpu_queue.py), whose times are not comparable.

h200_s7_call1.json: item 1 of #18, the round-5 plan cut to one GPU: fox 7000 `splatfacto` vs the
peer's `default` timed, then fresh peer `default` baselines on kermit and statue beside `splatfacto`
and the no-reset candidate on all three scenes (quality only).
h200_s7_call2.json: items 2 and 3: 3dgut and splatfacto-w-light from the `ut` engineer's branch and the
fly-through bench from the `media` engineer's branch (snapshots in .gpucode/ut, .gpucode/media) against
the peer's `--with_ut --with_eval3d` and `--app_opt`; the CPU-vs-CUDA parity script.
h200_s7_call3.json: kermit `splatfacto` vs `default` timed alone, then statue's pair side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

from make_plans import NO_RESET, SCENES, Plan, Run, key, ours, peer

HERE = Path(__file__).resolve().parent
STATUE = "statue_of_liberty_colmap"


def call1() -> None:
    plan = Plan(
        "issue #18 item 1 on one H200: fox 7000 splatfacto vs default timed alone, then (sharing the GPU, "
        "PSNR only) fresh peer default baselines and splatfacto / splatfacto-noreset on fox, kermit, statue"
    )
    timed = plan.pair(ours("fox", 7000), peer("fox", 7000))
    noreset = {"preset_overrides": NO_RESET}
    sweep = [peer("kermit", 7000), peer(STATUE, 7000)]
    for s in SCENES:
        tag = "splatfacto-noreset"
        sweep += plan.pair(ours(s, 7000, tag=tag, setting=noreset), peer(s, 7000))[:1]
    for s in SCENES[1:]:
        sweep += plan.pair(ours(s, 7000), peer(s, 7000))[:1]
    # second seeds and a second peer run, for the spread, last (a cut loses these first)
    sweep.append(peer("fox", 7000, repeat=2))
    for s in SCENES:
        sweep += plan.pair(ours(s, 7000, seed=1), peer(s, 7000))[:1]
        tag = "splatfacto-noreset-s1"
        sweep += plan.pair(ours(s, 7000, seed=1, tag=tag, setting=noreset), peer(s, 7000))[:1]
    plan.lanes = [
        {"gpu": 0, "runs": timed},
        {"gpu": 0, "after": [0], "parallel": 8, "runs": sweep},
    ]
    write(plan, "h200_s7_call1.json")


#: Another engineer's branch, carried as `git archive` in .gpucode/<name>, run from its own root.
#: Each is a {"side": "cmd"} run; its record reads the last JSON line of its output (or `result`).
STATE = "/tmp/gsbench"


def ours_at(code: str, scene: str, preset: str, steps: int = 7000) -> Run:
    """Our trainer from the snapshot `.gpucode/<code>` (run from .gpucode/gpu, the queue's root)."""
    key = f"{scene}__{steps}__ours__{preset}-{code}"  # the branch in the key: no clash with this branch's runs
    cmd = (
        f"cd ../{code} && PYTHONPATH=$PWD/container:$SITE python3 bench/train_bench.py --data {STATE}/scenes/{scene} "
        f"--preset {preset} --steps {steps} --test-every 8 --output {STATE}/results/{key}"
    )
    return {"side": "cmd", "key": key, "cmd": cmd, "scene": scene, "steps": steps}


def parity(code: str, flags: str, name: str) -> Run:
    """bench/gpu_parity.py of the snapshot: the PyTorch renderer against gsplat's CUDA one."""
    out = f"{STATE}/results/parity_{name}.json"
    cmd = (
        f"cd ../{code} && PYTHONPATH=$PWD/container:$SITE python3 bench/gpu_parity.py {out} "
        f"--npz $OLDPWD/.gpu/test_garden.npz --gaussians 20000 --torch-device cuda {flags}"
    )
    return {"side": "cmd", "key": f"parity_{name}", "cmd": cmd, "result": out}


def call2(ut: str = "ut", media: str = "media") -> None:
    plan = Plan(
        "issue #18 items 2-3 on one H200: on statue, our splatfacto / 3dgut / splatfacto-w-light timed alone and "
        "the fly-through's cost; then (sharing the GPU) the peer's --with_ut --with_eval3d on statue and fox, "
        "--app_opt on statue (scored by the NeRF-W protocol too), 3dgut on fox, CPU-vs-CUDA parity"
    )
    fly_out = f"{STATE}/results/fly"
    fly = {
        "side": "cmd",
        "key": "flythrough_1M_1080p_10s",
        "cmd": f"mkdir -p {fly_out} && cd ../{media} && OUT={fly_out} PYTHONPATH=$PWD:$PWD/container:$SITE python3 "
        "bench/flythrough_bench.py --gaussians 1000000 --seconds 10 --fps 30 --long-side 1920 --device cuda",
        "result": f"{fly_out}/flythrough_bench.json",
    }
    timed = [ours_at(ut, STATUE, p) for p in ("splatfacto", "3dgut", "splatfacto-w-light")] + [fly]
    ut_flags = ["--with_ut", "--with_eval3d"]
    appopt = {**peer(STATUE, 7000, "default"), "tag": "default-appopt", "extra": ["--app_opt"]}
    nerfw = {
        "side": "cmd",
        "key": "statue_of_liberty_colmap__7000__peer__default-appopt-nerfw",
        "cmd": f"PYTHONPATH=$PWD/container:$SITE python3 bench/peer_nerfw.py {STATE}/results/{key(appopt)}",
    }
    sweep = [
        {**peer(STATUE, 7000, "mcmc"), "tag": "mcmc-ut", "extra": ut_flags},
        ours_at(ut, "fox", "3dgut"),
        {**peer("fox", 7000, "mcmc"), "tag": "mcmc-ut", "extra": ut_flags},
        parity(ut, "--lens radial", "radial"),
        parity(ut, "--lens fisheye", "fisheye"),
        parity(ut, "--appearance", "appearance"),
        parity(ut, "--lens ut-pinhole", "ut_pinhole"),
        ours_at(ut, "fox", "splatfacto-w-light"),
    ]
    plan.pairs = [
        [f"{STATUE}__7000__ours__3dgut-{ut}", f"{STATUE}__7000__peer__mcmc-ut"],
        [f"fox__7000__ours__3dgut-{ut}", "fox__7000__peer__mcmc-ut"],
        [f"{STATUE}__7000__ours__3dgut-{ut}", f"{STATUE}__7000__ours__splatfacto-{ut}"],
        [f"{STATUE}__7000__ours__splatfacto-w-light-{ut}", f"{STATUE}__7000__ours__splatfacto-{ut}"],
        [f"{STATUE}__7000__ours__splatfacto-w-light-{ut}", key(appopt)],
    ]
    plan.lanes = [
        {"gpu": 0, "runs": timed},
        {"gpu": 0, "after": [0], "runs": [appopt, nerfw]},
        {"gpu": 0, "after": [0], "parallel": 4, "runs": sweep},
    ]
    write(plan, "h200_s7_call2.json")


def call3() -> None:
    plan = Plan(
        "issue #18 item 1, the rest on one H200 (call 1's fresh peer baselines there did not finish): kermit "
        "7000 splatfacto vs default timed alone, then statue's pair side by side (PSNR only)"
    )
    kermit = plan.pair(ours("kermit", 7000), peer("kermit", 7000))
    statue = plan.pair(ours(STATUE, 7000), peer(STATUE, 7000))
    plan.lanes = [{"gpu": 0, "runs": kermit}, {"gpu": 0, "after": [0], "parallel": 2, "runs": statue}]
    write(plan, "h200_s7_call3.json")


def write(plan: Plan, name: str) -> None:
    body = {"about": plan.about, "lanes": plan.lanes, "pairs": plan.pairs}
    (HERE / name).write_text(json.dumps(body, indent=1) + "\n")


if __name__ == "__main__":
    call1()
    call2()
    call3()
