#!/usr/bin/env python3
"""Write session 12's one-GPU plan for issue #18: `python3 bench/plans/s12_gpu.py` (-> s12_gpu.json).

Run with `PLAN=bench/plans/s12_gpu.json GRT_WAIT_TICKS=0 GRT_PROBE=0 bash bench/plans/gpu_calls.sh 1|2|3`. This
checkout is new, so the fox and kermit SfM models are new too (bench/gpu_prepare.sh made them): every fox and
kermit comparison below runs both sides again, none leans on an earlier round's peer run.

Item 5 (3dgrt, call 2 in the background, sharing the GPU with the sweep: its time is an upper bound):
3DGRUT a37ef72 with `render.primitive_type=icosahedron` (round 9's fix) through bench/grt_bench.py, kermit then fox,
7000 steps. Predictions: kermit 18-22 dB (splatfacto 21.84 in round 9), fox 28-31 dB; Gaussians grow past the SfM
points (kermit > 10k); 3DGRUT's own time 2-5x our splatfacto's. Pinning past PR #268 (`instances`) cannot be done:
the stored mirror of nv-tlabs/3dgrut ends at a37ef72, before the PR.

One lane, six runs at a time (PSNR only; times not comparable), in the order they matter:
- Item 1 at 7000 steps with the new `splatfacto` (no screen-space rules): three seeds against two peer `default`
  runs on statue and fox, one each on kermit. Prediction: statue −0.4 to +0.1 (round 9: −0.33, one seed; its runs
  spread by ~0.5 dB), fox −0.1 to +0.4, kermit ≥ +1.5.
- Item 3: statue `splatfacto-w-light` with the new preset (it follows splatfacto: no screen rules). Prediction:
  plain 16.6-17.2, NeRF-W 19.3-20.3; the peer's `--app_opt` (round 7) 17.80 / 20.12.
- Item 1 at 30000 steps, the new preset: statue and fox against the peer's `default`. Prediction: statue −0.5 to 0
  (round 4: −0.53 with the old preset), fox −0.2 to +0.3.
- Item 7: `splatfacto` with the faster resolution schedule (`num_downscales=3, resolution_schedule=1500`), three
  seeds on statue and fox. Prediction: within ±0.2 dB of `splatfacto`'s seed mean on both.
`splatfacto-mcmc` at 30000 steps (item 1) is left for a round with more device time: about 1,000 s of GPU alone.

Outcome (docs/BENCHMARKS.md, GPU round 10): item 1 at 7000 steps level or ahead on all three scenes; the peer's
30000-step runs and 3dgrt were cut by the device time. Next round, in this order: (1) 3dgrt alone on the GPU, kermit
then fox (its progress now shows in the log); (2) the 30000-step pairs, `splatfacto` and `splatfacto-mcmc` against the
peer, each pair alone; (3) a timed fox pair of `splatfacto` and the fast schedule (item 7).
"""

from __future__ import annotations

import json
from pathlib import Path

from make_plans import key, ours, peer

HERE = Path(__file__).resolve().parent
STATUE = "statue_of_liberty_colmap"
FAST = {"num_downscales": 3, "resolution_schedule": 1500}


def plan() -> dict:
    runs, pairs = [], []
    for scene, seeds, repeats in ((STATUE, 3, 2), ("fox", 3, 2), ("kermit", 1, 1)):
        mine = [ours(scene, 7000, seed=s) for s in range(seeds)]
        theirs = [peer(scene, 7000, repeat=r) for r in range(repeats)]
        runs += mine + theirs
        pairs += [[key(a), key(theirs[0])] for a in mine]
    wlight = ours(STATUE, 7000, "splatfacto-w-light")
    runs.append(wlight)
    pairs.append([key(wlight), key(ours(STATUE, 7000))])
    for scene in (STATUE, "fox"):
        pair = [ours(scene, 30000), peer(scene, 30000)]
        runs += pair
        pairs.append([key(r) for r in pair])
    for scene in (STATUE, "fox"):
        fast = [{**ours(scene, 7000, seed=s, tag=f"splatfacto-fast-s{s}"), "override": FAST} for s in range(3)]
        runs += fast
        pairs += [[key(f), key(ours(scene, 7000, seed=s))] for s, f in enumerate(fast)]
    return {
        "about": "issue #18, session 12: item 1 with three seeds (new splatfacto, fresh SfM models), statue w-light, "
        "the 30000-step pairs, the faster resolution schedule; 3dgrt beside it (gpu_calls.sh call 2)",
        "lanes": [{"gpu": 0, "parallel": 6, "runs": runs}],
        "pairs": pairs,
    }


if __name__ == "__main__":
    (HERE / "s12_gpu.json").write_text(json.dumps(plan(), indent=1) + "\n")
