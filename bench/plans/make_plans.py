#!/usr/bin/env python3
"""Write the GPU plans of issue #5 (bench/gpu_queue.py reads them): `python3 bench/plans/make_plans.py`.

compare_x4.json: round 2 (2026-11-21), as run. compare_x4_round3.json: round 3, session 3: three
runs per side of every 7000-step pair (with `undistort="crop"` the held-out pixels are now the
peer's), each with a candidate beside ours (the means' learning rate decayed over the run, as the
peer does), the 30000-step fox pairs, and the whole fox job with the job's SfM defaults. Lanes are
ordered by priority, what matters most first; each holds about 20 minutes of round 2's run times.
compare_x4_round4.json: the next round (a fresh session's device time): the preset candidates in
CANDIDATES, three seeds each on every scene, the optimizer levers on the 30000-step mcmc run, and the
30000-step pairs round 3 could not fit (last, as lanes' tails); the lanes' heads hold about 14 minutes
of round 3's run times. compare_x4_round5.json: session 5's round (see round5()).
`make_plans.py --confirm TAG ...` writes compare_x4_confirm.json: the chosen
candidates against three fresh peer runs per scene (about 10 minutes of run time per lane).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENES = ["fox", "kermit", "statue_of_liberty_colmap"]
Run = dict[str, Any]


def ours(scene: str, steps: int, preset: str = "splatfacto", seed: int = 0, tag: str = "", setting=None) -> Run:
    run: Run = {"side": "ours", "scene": scene, "steps": steps, "variant": preset}
    settings = dict(setting or {})
    if seed:
        settings["seed"] = seed
    if settings:
        run["setting"] = settings
    if tag or seed:
        run["tag"] = tag or f"{preset}-s{seed}"
    return run


def peer(scene: str, steps: int, mode: str = "default", repeat: int = 0) -> Run:
    run: Run = {"side": "peer", "scene": scene, "steps": steps, "variant": mode}
    if repeat:
        run["tag"] = f"{mode}-r{repeat}"
    return run


def key(run: Run) -> str:
    return f"{run['scene']}__{run['steps']}__{run['side']}__{run.get('tag') or run['variant']}"


class Plan:
    def __init__(self, about: str):
        self.about, self.lanes, self.pairs = about, [], []

    def pair(self, a: Run, b: Run) -> list[Run]:
        self.pairs.append([key(a), key(b)])
        return [a, b]

    def write(self, name: str) -> None:
        plan = {"about": self.about, "lanes": self.lanes, "pairs": self.pairs}
        (HERE / name).write_text(json.dumps(plan, indent=1) + "\n")


FOX_JOB: Run = {
    "side": "cmd",
    "key": "fox_job_sfm",
    "cmd": "FOX=.gpu/fox STEPS=7000 OUT=/tmp/gsbench/results bash bench/fox_job.sh sfm",
    "result": "/tmp/gsbench/results/fox_job_sfm.json",
}


FOX_JOB_DEFAULTS: Run = {
    "side": "cmd",
    "key": "fox_job_defaults",
    "cmd": "FOX=.gpu/fox STEPS=7000 OUT=/tmp/gsbench/results bash bench/fox_job.sh defaults",
    "result": "/tmp/gsbench/results/fox_job_defaults.json",
}


def round2() -> None:
    plan = Plan("issue #5 final comparison: one timed run per GPU at a time (4 x H200)")
    sweep = [x for s in SCENES for x in plan.pair(ours(s, 7000), peer(s, 7000))]
    sweep += [x for s in SCENES for x in plan.pair(ours(s, 7000, seed=1), peer(s, 7000, repeat=1))]
    mcmc = [x for s in SCENES for x in plan.pair(ours(s, 7000, "splatfacto-mcmc"), peer(s, 7000, "mcmc"))]
    mcmc += [x for s in SCENES for x in plan.pair(ours(s, 7000, seed=2), peer(s, 7000, repeat=2))]
    statue = "statue_of_liberty_colmap"
    ssim_torch = ours("fox", 7000, tag="splatfacto-ssim-torch", setting={"ssim": "torch"})
    selective = ours("fox", 7000, tag="splatfacto-selective-adam", setting={"optimizer": "selective_adam"})
    plan.lanes = [
        {"gpu": 0, "runs": [FOX_JOB, peer("fox", 30000), peer("kermit", 30000)]},
        {"gpu": 1, "runs": [ours("fox", 30000), peer(statue, 30000), ours(statue, 30000), ours("kermit", 30000)]},
        {"gpu": 2, "runs": [*sweep, ssim_torch]},
        {"gpu": 3, "runs": [*mcmc, selective]},
    ]
    for s in SCENES:
        plan.pairs.append([key(ours(s, 30000)), key(peer(s, 30000))])
    plan.write("compare_x4.json")


#: gsplat's simple_trainer decays the means' learning rate over its own run; nerfstudio over 30000 steps.
DECAY = {"preset_overrides": {"lr_means_max_steps": 0}}


def round3() -> None:
    plan = Plan(
        "issue #5 round 3: 7000-step pairs on the peer's pixels (crop undistortion), three runs per side, "
        "with the means' learning rate decayed over the run as a candidate; 30000-step fox; the whole fox job"
    )

    def triplet(s: str, r: int, preset: str, mode: str, baseline: bool = True) -> list[Run]:
        theirs = peer(s, 7000, mode, repeat=r)
        runs = [theirs]
        if baseline:
            runs += plan.pair(ours(s, 7000, preset, seed=r), theirs)[:1]
        tag = f"{preset}-decay" + (f"-s{r}" if r else "")
        runs += plan.pair(ours(s, 7000, preset, seed=r, tag=tag, setting=DECAY), theirs)[:1]
        return runs

    def default(r: int) -> list[Run]:
        return [x for s in SCENES for x in triplet(s, r, "splatfacto", "default")]

    def mcmc(r: int, baseline: bool = True) -> list[Run]:
        return [x for s in SCENES for x in triplet(s, r, "splatfacto-mcmc", "mcmc", baseline)]

    job = {
        **FOX_JOB_DEFAULTS,
        "key": "fox_job_defaults_decay",
        "result": "/tmp/gsbench/results/fox_job_defaults_decay.json",
    }
    job["cmd"] = "TAG=decay SETTINGS='preset_overrides={\"lr_means_max_steps\":0}' " + FOX_JOB_DEFAULTS["cmd"]
    plan.lanes = [
        {"gpu": 0, "runs": [*default(0), *default(1), job]},
        {"gpu": 1, "runs": [*default(2), *mcmc(0), FOX_JOB_DEFAULTS]},
        {"gpu": 2, "runs": [*mcmc(1), *plan.pair(ours("fox", 30000), peer("fox", 30000))]},
        {
            "gpu": 3,
            "runs": [
                *mcmc(2, baseline=False),
                *plan.pair(ours("fox", 30000, "splatfacto-mcmc"), peer("fox", 30000, "mcmc")),
            ],
        },
    ]
    plan.write("compare_x4_round3.json")


#: Round 4's candidates for closing the 7000-step gap (round 3: splatfacto -0.12 dB on fox, -0.77 on
#: statue; splatfacto-mcmc -2.38 on kermit), each a preset override: what the peer does differently.
CANDIDATES: dict[str, tuple[str, dict]] = {
    # the peer keeps Gaussians down to opacity 0.005 (splatfacto culls below 0.1): more Gaussians
    "splatfacto-cull005": ("splatfacto", {"cull_alpha_thresh": 0.005}),
    # the peer's whole densification: plain (not absolute) gradients over 0.0002, culling at 0.005
    "splatfacto-gsdensify": (
        "splatfacto",
        {"cull_alpha_thresh": 0.005, "densify_grad_thresh": 0.0002, "use_absgrad": False},
    ),
    # the peer trains at full resolution from step 0 (splatfacto: 1/4 until 3000, 1/2 until 6000)
    "splatfacto-fullres": ("splatfacto", {"num_downscales": 0}),
    # the peer trains over black (splatfacto-mcmc keeps nerfstudio's random colour)
    "splatfacto-mcmc-black": ("splatfacto-mcmc", {"background_color": "black"}),
    # ... and starts MCMC from opacity 0.5 at a tenth of the neighbour distance
    "splatfacto-mcmc-peerinit": (
        "splatfacto-mcmc",
        {"background_color": "black", "init_opacity": 0.5, "init_scale": 0.1},
    ),
}


def round4() -> None:
    plan = Plan(
        "issue #5 round 4: preset candidates at 7000 steps (three seeds, one peer run per scene beside them; "
        "round 3 holds the peer's three-run means), the 30000-step pairs round 3 missed"
    )

    def candidate(tag: str, scene: str, seed: int) -> Run:
        preset, override = CANDIDATES[tag]
        name = tag + (f"-s{seed}" if seed else "")
        return ours(scene, 7000, preset, seed=seed, tag=name, setting={"preset_overrides": override})

    def screen(tag: str) -> list[Run]:
        mode = "mcmc" if tag.startswith("splatfacto-mcmc") else "default"
        runs = []
        for seed in range(3):
            for s in SCENES:
                runs += plan.pair(candidate(tag, s, seed), peer(s, 7000, mode, repeat=4))[:1]
        return runs

    peers = {mode: [peer(s, 7000, mode, repeat=4) for s in SCENES] for mode in ("default", "mcmc")}
    statue = "statue_of_liberty_colmap"

    def lever(steps: int, preset: str, optimizer: str) -> Run:
        return ours(
            "fox", steps, preset, tag=f"{preset}-{optimizer.replace('_', '-')}", setting={"optimizer": optimizer}
        )

    # Speed levers for the 30000-step mcmc run (round 3: 0.85x of the peer, at 1 M Gaussians),
    # predictions in BENCHMARKS.md: fused Adam -5 to -10 %, SelectiveAdam -10 to -20 %.
    levers = [lever(30000, "splatfacto-mcmc", "fused_adam"), lever(30000, "splatfacto-mcmc", "selective_adam")]
    # Where a step goes at 1 M Gaussians (the cap is reached near step 9400 on fox): torch.profiler
    # over 100 steps from step 10000 of a 12000-step run (`profile.txt` comes back in logs.tgz).
    window = {"profile_steps": 100, "profile_start": 10000}
    profile = ours("fox", 12000, "splatfacto-mcmc", tag="splatfacto-mcmc-profile", setting=window)
    plan.lanes = [
        {
            "gpu": 0,
            "runs": [
                *peers["default"],
                *screen("splatfacto-cull005"),
                *screen("splatfacto-gsdensify"),
                lever(7000, "splatfacto", "fused_adam"),
            ],
        },
        {"gpu": 1, "runs": [*peers["mcmc"], *screen("splatfacto-mcmc-black"), *screen("splatfacto-fullres")]},
        {
            "gpu": 2,
            "runs": [
                *screen("splatfacto-mcmc-peerinit"),
                peer("fox", 30000, "mcmc"),
                *plan.pair(ours("kermit", 30000), peer("kermit", 30000)),
            ],
        },
        {"gpu": 3, "runs": [*levers, profile, *plan.pair(ours(statue, 30000), peer(statue, 30000))]},
    ]
    plan.pairs.append([key(ours("fox", 30000, "splatfacto-mcmc")), key(peer("fox", 30000, "mcmc"))])
    plan.pairs += [[key(run), key(peer("fox", 30000, "mcmc"))] for run in levers]
    plan.pairs.append([key(lever(7000, "splatfacto", "fused_adam")), key(peer("fox", 7000, repeat=4))])
    plan.write("compare_x4_round4.json")


#: Round 5's candidates for `splatfacto` (round 4 left it -0.1 dB on fox and -0.3 to -0.8 on statue):
#: gsplat 1.5.3's DefaultStrategy, which the peer runs, never resets opacities (its `reset_every` test
#: is never true; densify.py's docstring), while splatfacto resets every 3000 steps. A quiet window
#: longer than any run turns our resets off.
NO_RESET = {"reset_alpha_quiet_steps": 10**9}
CANDIDATES["splatfacto-noreset"] = ("splatfacto", NO_RESET)
# ... and the peer's whole DefaultStrategy: no reset, culling at 0.005, plain gradients over 0.0002, no
# screen-size rules (its refine_scale2d_stop_iter is 0)
CANDIDATES["splatfacto-peerstrategy"] = (
    "splatfacto",
    {
        **NO_RESET,
        "cull_alpha_thresh": 0.005,
        "densify_grad_thresh": 0.0002,
        "use_absgrad": False,
        "stop_screen_size_at": 0,
    },
)


def round5() -> None:
    plan = Plan(
        "issue #5 round 5: splatfacto-mcmc with the peer's init (adopted after round 4) at 7000 and 30000 "
        "steps; two splatfacto candidates (no opacity reset, as the peer; the peer's whole strategy) beside "
        "splatfacto itself, three seeds each; two fresh peer runs per scene and mode"
    )
    statue = "statue_of_liberty_colmap"
    peers = {m: [peer(s, 7000, m, repeat=r) for r in (5, 6) for s in SCENES] for m in ("default", "mcmc")}

    def seeds(preset: str, mode: str, tag: str = "", override: dict | None = None) -> list[Run]:
        runs = []
        for seed in range(3):
            for s in SCENES:
                name = (tag or preset) + (f"-s{seed}" if seed else "")
                setting = {"preset_overrides": override} if override else None
                mine = ours(s, 7000, preset, seed=seed, tag=name if (tag or seed) else "", setting=setting)
                runs += plan.pair(mine, peer(s, 7000, mode, repeat=5 + seed % 2))[:1]
        return runs

    def candidate(tag: str) -> list[Run]:
        preset, override = CANDIDATES[tag]
        return seeds(preset, "default", tag, override)

    def thirty(scene: str, preset: str, mode: str) -> list[Run]:
        return plan.pair(ours(scene, 30000, preset), peer(scene, 30000, mode))

    # Lanes in priority order (a cut loses the tails): the mcmc time goal at 30000 steps, the adopted
    # mcmc preset at 7000, the splatfacto candidates, then the other 30000-step runs. No 30000-step
    # `splatfacto` pair this time (round 3 has fox's); one candidate at 30000 against round 3's peer run.
    noreset_30k = ours("fox", 30000, "splatfacto", tag="splatfacto-noreset", setting={"preset_overrides": NO_RESET})
    plan.lanes = [
        {"gpu": 0, "runs": [*thirty("fox", "splatfacto-mcmc", "mcmc"), *peers["mcmc"][:3]]},
        {
            "gpu": 1,
            "runs": [
                *peers["mcmc"][3:],
                *seeds("splatfacto-mcmc", "mcmc"),
                *thirty("kermit", "splatfacto-mcmc", "mcmc"),
            ],
        },
        {
            "gpu": 2,
            "runs": [
                *peers["default"][:3],
                *candidate("splatfacto-noreset"),
                *candidate("splatfacto-peerstrategy"),
                noreset_30k,
            ],
        },
        {
            "gpu": 3,
            "runs": [
                *peers["default"][3:],
                *seeds("splatfacto", "default"),
                *thirty(statue, "splatfacto-mcmc", "mcmc"),
            ],
        },
    ]
    plan.write("compare_x4_round5.json")


def confirm(tags: list[str], steps: int = 7000) -> None:
    """A side-by-side confirmation of chosen CANDIDATES: three seeds each and three fresh peer runs per
    scene, every pair back to back on one GPU; lanes dealt round-robin by scene and repeat."""
    plan = Plan(f"issue #5 confirmation of {', '.join(tags)} at {steps} steps: three runs per side")
    runs_by_lane: list[list[Run]] = [[], [], [], []]
    slot = 0
    for repeat in range(3):
        for s in SCENES:
            for mode in sorted({"mcmc" if t.startswith("splatfacto-mcmc") else "default" for t in tags}):
                theirs = peer(s, steps, mode, repeat=5 + repeat)
                runs = [theirs]
                for tag in (t for t in tags if ("mcmc" if t.startswith("splatfacto-mcmc") else "default") == mode):
                    preset, override = CANDIDATES[tag]
                    name = tag + (f"-s{repeat}" if repeat else "")
                    mine = ours(s, steps, preset, seed=repeat, tag=name, setting={"preset_overrides": override})
                    runs += plan.pair(mine, theirs)[:1]
                runs_by_lane[slot % 4] += runs
                slot += 1
    plan.lanes = [{"gpu": gpu, "runs": runs} for gpu, runs in enumerate(runs_by_lane)]
    plan.write("compare_x4_confirm.json")


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--confirm"]:  # make_plans.py --confirm TAG [TAG ...]: after round 4
        confirm(sys.argv[2:])
        sys.exit(0)
    round2()
    round3()
    round4()
    round5()
