#!/usr/bin/env python3
"""Write session 7's plans for ONE H200 (issue #18): `python3 bench/plans/h200_s7.py`.

Why a separate file: make_plans.py holds the four-GPU rounds of issue #5; on one GPU a device call
(at most 10 minutes) holds one timed pair, run alone, and then a quality sweep that shares the GPU
(`"after"` in bench/gpu_queue.py), whose times are not comparable.

h200_s7_call1.json: item 1 of #18, the round-5 plan cut to one GPU: fox 7000 `splatfacto` vs the
peer's `default` timed, then fresh peer `default` baselines on kermit and statue beside `splatfacto`
and the no-reset candidate on all three scenes (quality only).
"""

from __future__ import annotations

import json
from pathlib import Path

from make_plans import NO_RESET, SCENES, Plan, ours, peer

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


def write(plan: Plan, name: str) -> None:
    body = {"about": plan.about, "lanes": plan.lanes, "pairs": plan.pairs}
    (HERE / name).write_text(json.dumps(body, indent=1) + "\n")


if __name__ == "__main__":
    call1()
