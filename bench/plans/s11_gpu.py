#!/usr/bin/env python3
"""Write session 11's one-GPU plan for issue #18: `python3 bench/plans/s11_gpu.py` (-> s11_gpu.json).

Run with bench/plans/gpu_calls.sh (its default plan). What round 8 (session 10) left, in the order it matters:

Lane 0, timed alone:
- fox `splatfacto` and the peer's `default` side by side: the time base round 8 lacked.
  Prediction: ours 0.33-0.45x the peer's train time, PSNR within ±0.4 dB.
- fox `3dgut` and the peer's `mcmc --with_ut --with_eval3d` (item 2's peer): is 3dgut's 1.50x over `splatfacto`
  gsplat's UT rasterizer itself? Prediction: the peer's UT run takes ≥ 1.3x its `default`, so the 1.2x goal is
  about the rasterizer, and ours stays ≤ 0.6x of the peer's UT time at PSNR ≥ the peer's −0.1.

Lane 1, after lane 0, shared (PSNR only): the rest of next_gpu.py's lane 1 (item 1 on kermit and statue, no
screen-space rules, `splatfacto-fast`, statue `splatfacto-w-light`, the 30,000-step pairs), its predictions
as written there.
"""

from __future__ import annotations

import json
from pathlib import Path

from make_plans import ours, peer
from next_gpu import plan as next_plan

HERE = Path(__file__).resolve().parent
STATUE = "statue_of_liberty_colmap"


def plan() -> dict:
    ut_peer = {**peer("fox", 7000, "mcmc"), "extra": ["--with_ut", "--with_eval3d"], "tag": "mcmc-ut"}
    timed = [ours("fox", 7000), peer("fox", 7000), ours("fox", 7000, "3dgut"), ut_peer]
    earlier = next_plan()
    sweep = earlier["lanes"][1]["runs"]
    pairs = [
        ["fox__7000__ours__splatfacto", "fox__7000__peer__default"],
        ["fox__7000__ours__3dgut", "fox__7000__ours__splatfacto"],
        ["fox__7000__ours__3dgut", "fox__7000__peer__mcmc-ut"],
        ["fox__7000__peer__mcmc-ut", "fox__7000__peer__default"],
        *(p for p in earlier["pairs"] if not p[0].startswith("fox__7000__ours__") or "noscreen" in p[0]),
        *([f"{s}__7000__ours__splatfacto-fast", f"{s}__7000__ours__splatfacto"] for s in ("kermit", STATUE)),
    ]
    return {
        "about": "issue #18, session 11: fresh fox time base, 3dgut against the peer's UT run, then lane 1 of "
        "next_gpu.json (item 1 on kermit/statue, 30k pairs)",
        "lanes": [{"gpu": 0, "runs": timed}, {"gpu": 0, "after": [0], "parallel": 6, "runs": sweep}],
        "pairs": pairs,
    }


if __name__ == "__main__":
    (HERE / "s11_gpu.json").write_text(json.dumps(plan(), indent=1) + "\n")
