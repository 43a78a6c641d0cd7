#!/usr/bin/env python3
"""Write the next one-GPU round's plan for issue #18 (items 1, 3 and 7): `python3 bench/plans/next_gpu.py`.

Round 7 (session 9, docs/BENCHMARKS.md) left these open. Run with bench/plans/h200_s9_call.sh's flow
(PLAN=bench/plans/next_gpu.json). Then run h200_s9_grt.sh as its own call (item 5: the 3dgrt build and kermit).

Lane 0, timed alone on one machine:
- fox `splatfacto` and `splatfacto-w-light`: the w-light neutral-colour fix of session 9 against its plain-PSNR gap
  (26.57 against 30.95 in round 7).
  Prediction: plain within 0.5 dB of `splatfacto`, NeRF-W still ≥ +0.5 over it, time ≤ 1.5x.
- fox `splatfacto` with `num_downscales=3, resolution_schedule=1500` (item 7: an eighth of the resolution at first,
  doubling every 1,500 steps, so full resolution from step 4,500, where today it comes at 6,000).
  Prediction: 0.85-0.9x the train time of `splatfacto`, PSNR −0.1 to +0.2 (more full-resolution steps).
- fox `3dgut`, and `3dgut` capped at 160,000 Gaussians (`max_gs_num`; item 2's time goal, 1.69x in round 7: its MCMC
  grows 313k Gaussians by step 7,000 where `splatfacto` has 154k). Prediction: capped 1.05-1.2x `splatfacto`'s
  time, PSNR 0.1-0.4 dB under the uncapped 30.65, so level with the peer's UT run (30.31) within 0.1.
- The peer's `default` on fox, alone: a fresh time base for the ratios (round 6: 136.7 s on an H200).

Lane 1, after lane 0, shared (PSNR only), for item 1 (`splatfacto` ≥ the peer's `default` on fox, kermit, statue):
- `splatfacto` with `stop_screen_size_at=0`: no screen-space split and cull, as the peer (gsplat's default
  `refine_scale2d_stop_iter=0`). Statue's background is large on screen.
  Prediction: statue +0.2 to +0.5, fox and kermit ±0.2.
- `splatfacto` and the peer's `default` on kermit and statue, as same-round baselines.
- statue `splatfacto-w-light`: session 9 removed the learned background (a colour the delivered file cannot carry),
  which filled statue's sky. Prediction: plain PSNR −0.3 to +0.3 against round 7's 16.63, NeRF-W down by up to
  0.8 dB from 19.99 (the Gaussians must now cover the sky), still ahead of `splatfacto` by NeRF-W.
- Tail (session 10): item 1 at 30,000 steps, `splatfacto` against the peer's `default` on fox and kermit, shared.
  Round 3 measured kermit +0.08, fox −0.39. Prediction: kermit −0.1 to +0.3, fox −0.5 to 0.

Round 9 (session 11, bench/plans/s11_gpu.py) ran all of lane 1 and the peer's fox runs; `splatfacto` now has no
screen-space rules. Next round, in this order: (1) 3dgrt with `render.primitive_type=icosahedron` through
bench/grt_bench.py on kermit and fox at 7000 steps (held-out PSNR, time, Gaussians against `splatfacto`; round 9's
800-iteration probe trained, the 7000-step run was cut by the device time); (2) 3DGRUT pinned past its PR #268 with
`instances` again (the PR measures 12-15 % faster); (3) the new `splatfacto` alone against the peer's `default` on
fox, kermit and statue, three seeds, 7000 and 30000 steps (item 1 and the time ratio); (4) `splatfacto-mcmc` at
30000 steps.

Round 8 (session 10, one H100, docs/BENCHMARKS.md) ran lane 0 but the peer's run; lane 1 never started. Still to
run from this plan: the peer's fox `default` and all of lane 1. To add next: fox `splatfacto` with the cleanup off
beside it (round 8's 30.13 against round 7's 30.95 is one frame; does `negligible` cost anything at 150k
Gaussians?), and `splatfacto-fast` on kermit and statue with three seeds before it becomes the preset.
"""

from __future__ import annotations

import json
from pathlib import Path

from make_plans import ours, peer

HERE = Path(__file__).resolve().parent
STATUE = "statue_of_liberty_colmap"
FAST = {"num_downscales": 3, "resolution_schedule": 1500}
NO_SCREEN = {"stop_screen_size_at": 0}


def tagged(scene: str, tag: str, override: dict) -> dict:
    preset = "3dgut" if tag.startswith("3dgut") else "splatfacto"
    return {**ours(scene, 7000, preset, tag=tag), "override": override}


def plan() -> dict:
    cap = {"max_gs_num": 160_000}
    timed = [ours("fox", 7000), tagged("fox", "3dgut-cap160k", cap), ours("fox", 7000, "3dgut"),
             ours("fox", 7000, "splatfacto-w-light"), tagged("fox", "splatfacto-fast", FAST),
             peer("fox", 7000)]  # fmt: skip
    sweep = [tagged(s, "splatfacto-noscreen", NO_SCREEN) for s in ("fox", "kermit", STATUE)]
    sweep += [run for s in ("kermit", STATUE) for run in (ours(s, 7000), peer(s, 7000))]
    sweep += [tagged(s, "splatfacto-fast", FAST) for s in ("kermit", STATUE)]
    sweep.append(ours(STATUE, 7000, "splatfacto-w-light"))  # no learned background since session 9: statue's sky
    sweep += [run for s in ("kermit", "fox") for run in (ours(s, 30000), peer(s, 30000))]
    return {
        "about": "issue #18 items 1, 3, 7 on one GPU: w-light's neutral colours, a faster resolution schedule, "
        "no screen-space rules (as the peer); fresh peer default baselines",
        "lanes": [{"gpu": 0, "runs": timed}, {"gpu": 0, "after": [0], "parallel": 6, "runs": sweep}],
        "pairs": [
            ["fox__7000__ours__splatfacto", "fox__7000__peer__default"],
            ["fox__7000__ours__splatfacto-w-light", "fox__7000__ours__splatfacto"],
            ["fox__7000__ours__splatfacto-fast", "fox__7000__ours__splatfacto"],
            ["fox__7000__ours__splatfacto-fast", "fox__7000__peer__default"],
            ["fox__7000__ours__3dgut", "fox__7000__ours__splatfacto"],
            ["fox__7000__ours__3dgut-cap160k", "fox__7000__ours__splatfacto"],
            *(
                [f"{s}__7000__ours__splatfacto-noscreen", f"{s}__7000__peer__default"]
                for s in ("fox", "kermit", STATUE)
            ),
            *([f"{s}__7000__ours__splatfacto", f"{s}__7000__peer__default"] for s in ("kermit", STATUE)),
            [f"{STATUE}__7000__ours__splatfacto-w-light", f"{STATUE}__7000__ours__splatfacto"],
            *([f"{s}__30000__ours__splatfacto", f"{s}__30000__peer__default"] for s in ("kermit", "fox")),
        ],
    }


if __name__ == "__main__":
    (HERE / "next_gpu.json").write_text(json.dumps(plan(), indent=1) + "\n")
