#!/usr/bin/env python3
"""Write the plan of issue #18 item 5 (3dgrt through NVIDIA 3DGRUT) for ONE H200: `python3 bench/plans/h200_grt.py`.

Before the call, here: `bash bench/grt_prepare.sh <3dgrut mirror> <optix-dev mirror> <fused-ssim mirror>`
(what travels: .peer/3dgrut-a37ef72, .peer/fused-ssim-1272e21, .whl-grt; see the script). Call 1 carries
those and runs `bash bench/grt_setup.sh` (the image's 3DGRUT build replayed on the host, the tracer compile
timed) and the adapter test with 3DGRUT's own reader. Call 2 (the machine still warm, $STATE kept) carries
the usual .whl/.peer/.gpu of bench/gpu_compare.sh and runs this plan:

    python3 bench/gpu_queue.py go bench/plans/h200_grt.json --max-s 560

Timed alone, one after another, on fox at 7000 steps: our `splatfacto`, the peer's `default`
(simple_trainer.py), 3dgrt through the splat and spz stages. Then 3dgrt at 30,000 steps, alone too.
Predictions, written before the run (3DGRT paper, Table 1: on MipNeRF360 3DGRT is within ~0.3 dB of 3DGS
and trains ~2x slower on RTX 6000 Ada; our particles are Gaussians, not its degree-4 kernel): fox 7000
PSNR within 1 dB of `splatfacto` (30.5 ± 1), time 1.5-3x `splatfacto`'s, 4-8x the peer's.
"""

from __future__ import annotations

import json
from pathlib import Path

from make_plans import Plan, Run, key, ours, peer

HERE = Path(__file__).resolve().parent
STATE = "/tmp/gsbench"


def grt(scene: str, steps: int) -> Run:
    """3dgrt through the splat and spz stages (bench/grt_bench.py) with the host's 3DGRUT (bench/grt_setup.sh)."""
    run_key = f"{scene}__{steps}__ours__3dgrt"
    cmd = (
        f"PYTHONPATH={STATE}/grt/src:$PWD/container:$SITE python3 bench/grt_bench.py --data {STATE}/scenes/{scene} "
        f"--steps {steps} --output {STATE}/results/{run_key}"
    )
    return {"side": "cmd", "key": run_key, "cmd": cmd, "scene": scene, "steps": steps}


def main() -> None:
    plan = Plan(
        "issue #18 item 5 on one H200: fox 7000 our splatfacto, the peer's default and 3dgrt (NVIDIA 3DGRUT "
        "through the splat and spz stages) timed alone, one after another; then 3dgrt at 30000 steps"
    )
    timed = [*plan.pair(ours("fox", 7000), peer("fox", 7000)), grt("fox", 7000)]
    plan.pairs += [[timed[2]["key"], key(timed[0])], [timed[2]["key"], key(timed[1])]]  # 3dgrt / ours, 3dgrt / peer
    plan.lanes = [{"gpu": 0, "runs": timed}, {"gpu": 0, "after": [0], "runs": [grt("fox", 30000)]}]
    body = {"about": plan.about, "lanes": plan.lanes, "pairs": plan.pairs}
    (HERE / "h200_grt.json").write_text(json.dumps(body, indent=1) + "\n")


if __name__ == "__main__":
    main()
