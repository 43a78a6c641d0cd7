#!/usr/bin/env python3
"""Write session 9's plan for ONE H200 (issue #18): `python3 bench/plans/h200_s9.py` -> h200_s9.json.

One plan, one detached scheduler (bench/gpu_queue.py) over two device calls back to back on the same warm
machine, because what 3dgrt needs (.whl-grt, 3DGRUT's source) and what the trainers need (.whl, .gpu) do not fit
one call's 64 MiB carry together:
  call 1, carry .whl .peer .gpu:  bash bench/plans/h200_s9_call.sh 1   (set-up, the timed runs, the scheduler kept)
  call 2, carry .whl-grt .peer:   bash bench/plans/h200_s9_call.sh 2   (3DGRUT built beside the peers, then 3dgrt)
Lanes: 0 timed alone: `splatfacto`, `3dgut` and `splatfacto-w-light` on fox and statue (items 2, 3: the
footprint floor, 3dgut's new start and w-light's new transient mask since round 6); then, sharing the GPU, the
CPU-vs-CUDA parity after the floor and the peer's `--with_ut --with_eval3d` (fox) and `--app_opt` (statue, scored
by the NeRF-W protocol too), whose round-6 runs were cut; last, alone, 3dgrt on fox (item 5) once call 2 has built
NVIDIA 3DGRUT, and 3DGRUT's own code on our input on the GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from make_plans import ours, peer

HERE = Path(__file__).resolve().parent
STATE = "/tmp/gsbench"
STATUE = "statue_of_liberty_colmap"
MODELS = ("splatfacto", "3dgut", "splatfacto-w-light")
GRT_PATH = f"{STATE}/grt/src:$PWD/container:/tmp/site-grt:/tmp/site"


def cmd(key: str, line: str, result: str | None = None) -> dict:
    run = {"side": "cmd", "key": key, "cmd": line}
    return run | ({"result": result} if result else {})


def parity(flags: str, name: str) -> dict:
    out = f"{STATE}/results/parity_{name}.json"
    line = (f"python3 bench/gpu_parity.py {out} --npz {STATE}/data/test_garden.npz --gaussians 20000 "
            f"--torch-device cuda {flags}")  # fmt: skip
    return cmd(f"parity_{name}", line, out)


def plan() -> dict:
    timed = [ours(scene, 7000, model) for scene in ("fox", STATUE) for model in MODELS]
    ut = {**peer("fox", 7000, "mcmc"), "tag": "mcmc-ut", "extra": ["--with_ut", "--with_eval3d"]}
    appopt = {**peer(STATUE, 7000), "tag": "default-appopt", "extra": ["--app_opt"]}
    nerfw = cmd(f"{STATUE}__7000__peer__default-appopt-nerfw",
                f"python3 bench/peer_nerfw.py {STATE}/results/{STATUE}__7000__peer__default-appopt")  # fmt: skip
    modes = (("--lens radial", "radial"), ("--lens fisheye", "fisheye"), ("--appearance", "appearance"),
             ("--lens ut-pinhole", "ut_pinhole"))  # fmt: skip
    shared = [ut, *(parity(f, n) for f, n in modes)]
    gate = cmd("grt_built", f"for i in $(seq 450); do [ -f {STATE}/grt/build.json ] && break; sleep 2; done; "
               f"cat {STATE}/grt/build.json")  # fmt: skip
    grt = cmd("fox__7000__ours__3dgrt",
              f"PYTHONPATH={GRT_PATH} python3 bench/grt_bench.py --data {STATE}/scenes/fox --steps 7000 "
              f"--output {STATE}/results/fox__7000__ours__3dgrt")  # fmt: skip
    grt["scene"], grt["steps"] = "fox", 7000
    grt_tests = cmd("grt_tests_gpu",
                    f"GS_3DGRUT_PYTHON=python3 PYTHONPATH={GRT_PATH}:$PWD python3 -m pytest -q -p no:cacheprovider "
                    "tests/stages/test_grt_with_3dgrut.py && echo '{\"passed\": true}'")  # fmt: skip
    return {
        "about": "issue #18 on one H200, session 9: items 2, 3 (3dgut, w-light re-measured, parity, the peer's UT and "
        "app_opt runs) and 5 (3dgrt through NVIDIA 3DGRUT on fox)",
        "lanes": [
            {"gpu": 0, "runs": timed},
            {"gpu": 0, "after": [0], "parallel": 5, "runs": shared},
            {"gpu": 0, "after": [0], "runs": [appopt, nerfw]},
            {"gpu": 0, "after": [0, 1, 2], "runs": [gate, grt, grt_tests]},
        ],
        "pairs": [
            ["fox__7000__ours__3dgut", "fox__7000__ours__splatfacto"],
            ["fox__7000__ours__3dgut", "fox__7000__peer__mcmc-ut"],
            ["fox__7000__ours__splatfacto-w-light", "fox__7000__ours__splatfacto"],
            [f"{STATUE}__7000__ours__3dgut", f"{STATUE}__7000__ours__splatfacto"],
            [f"{STATUE}__7000__ours__splatfacto-w-light", f"{STATUE}__7000__ours__splatfacto"],
            [f"{STATUE}__7000__ours__splatfacto-w-light", f"{STATUE}__7000__peer__default-appopt"],
            ["fox__7000__ours__3dgrt", "fox__7000__ours__splatfacto"],
        ],
    }


if __name__ == "__main__":
    (HERE / "h200_s9.json").write_text(json.dumps(plan(), indent=1) + "\n")
