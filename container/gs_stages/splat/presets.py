"""`training.model` presets: nerfstudio's splatfacto methods as plain numbers, and the models we refuse.

Source of every value below: nerfstudio-project/nerfstudio at commit 50e0e3c7 (v1.1.5-30-g50e0e3c7,
2025-07-28; it pins gsplat==1.4.0):
* `nerfstudio/models/splatfacto.py`, `SplatfactoModelConfig` defaults (refinement, culling, SH, loss,
  MCMC) and `SplatfactoModel` (init opacity 0.1, random quaternions, background colours);
* `nerfstudio/configs/method_configs.py`, `method_configs["splatfacto"]`, `["splatfacto-big"]` and
  `["splatfacto-mcmc"]` (learning rates, Adam eps 1e-15, means decay 1.6e-4 -> 1.6e-6 over 30000
  steps, and the per-method model overrides). `splatfacto-mcmc` is not in the v1.1.5 tag itself;
  it was added after it (commit c7bd9539, "Finalize MCMC strategy").
Field names are nerfstudio's so a value can be checked against that file by name.

Deviations from nerfstudio, each measured on the H200 against gsplat's simple_trainer
(docs/BENCHMARKS.md, issue #5):
* `splatfacto` trains over a black background instead of a random colour per step, as the peer does;
  the held-out metric renders over one fixed colour either way. Measured in a sweep at 7000 steps (one
  seed each): fox +0.29, kermit +1.64, statue -0.14 dB, and fewer Gaussians (kermit 197k -> 112k);
  with three seeds each it did not yet close the gap to the peer (BENCHMARKS.md, round 2).
* `splatfacto` has no screen-space split and cull (`stop_screen_size_at=0`; nerfstudio keeps them to step
  4000), as the peer's default (`refine_scale2d_stop_iter=0`). GPU round 9 (an H100), 7000 steps, one seed: fox
  30.61 -> 31.22, kermit 20.80 -> 21.84, statue 16.82 -> 17.12 dB, with 32-53 % fewer Gaussians. Round 10
  (three seeds against two peer runs, 7000 steps): statue +0.04, fox +0.07, kermit +1.18 dB over the peer.
  `splatfacto-w-light` follows, so that it stays splatfacto plus appearance (round 10, statue: NeRF-W 20.25 dB).
* `splatfacto-mcmc` starts as the peer's `mcmc` config does: opacity 0.5 and a tenth of the neighbour
  distance as scale (nerfstudio: 0.1 and the full distance), trained over black. Three seeds per scene at
  7000 steps (round 4) against nerfstudio's init: kermit 18.48 -> 21.31 dB (its 437 SfM points give only
  9.7k Gaussians, and nerfstudio's init ranged 16.2-20.8 between seeds), statue 17.57 -> 18.05, fox
  31.03 -> 30.60; against the peer's four-run means +0.17 (fox), +0.29 (kermit), +0.18 dB (statue).
  `splatfacto-big` keeps nerfstudio's random background and init.

Two translations: nerfstudio rescales each scene so the cameras fit in [-1, 1]; we train in the SfM
model's own units and multiply the length-like values (means learning rate, densify_size_thresh,
cull_scale_thresh) by the scene scale instead (see `scene.scene_scale`). And nerfstudio's
`steps_per_save` (2000) becomes the engine setting `checkpoint_every` (`settings.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

from pydantic import TypeAdapter, ValidationError

from gs_stages.stage import StageError


@dataclass(frozen=True)
class Preset:
    name: str
    strategy: Literal["default", "mcmc"] = "default"
    # -- optimisation (method_configs.py) -------------------------------------------------------
    lr_means: float = 1.6e-4  # x scene scale; exponential decay to lr_means_final
    lr_means_final: float = 1.6e-6
    lr_means_max_steps: int = 30000  # the decay horizon, whatever max_steps is; 0 = over this run
    lr_features_dc: float = 0.0025
    lr_features_rest: float = 0.0025 / 20
    lr_opacities: float = 0.05
    lr_scales: float = 0.005
    lr_quats: float = 0.001
    adam_eps: float = 1e-15
    # -- model (splatfacto.py) ------------------------------------------------------------------
    ssim_lambda: float = 0.2
    sh_degree: int = 3
    sh_degree_interval: int = 1000  # one more SH degree every this many steps
    init_opacity: float = 0.1
    init_scale: float = 1.0  # x mean distance to the 3 nearest SfM points (simple_trainer's mcmc: 0.1)
    background_color: Literal["random", "black", "white"] = "random"
    num_downscales: int = 2  # train at 1/2^d of the resolution at first ...
    resolution_schedule: int = 3000  # ... and double it every this many steps
    # -- default strategy (gsplat DefaultStrategy, as splatfacto configures it) -------------------
    warmup_length: int = 500  # refine_start_iter
    refine_every: int = 100
    stop_split_at: int = 15000  # refine_stop_iter
    reset_alpha_every: int = 30  # in refinements: opacity reset every 30 * 100 steps
    cull_alpha_thresh: float = 0.1  # prune_opa (and MCMC's min_opacity)
    cull_scale_thresh: float = 0.5  # prune_scale3d, x scene scale
    densify_grad_thresh: float = 0.0008  # grow_grad2d
    use_absgrad: bool = True
    densify_size_thresh: float = 0.01  # grow_scale3d, x scene scale
    cull_screen_size: float = 0.15  # prune_scale2d
    split_screen_size: float = 0.05  # grow_scale2d
    stop_screen_size_at: int = 4000  # refine_scale2d_stop_iter
    # -- MCMC strategy --------------------------------------------------------------------------
    max_gs_num: int = 1_000_000  # cap_max
    noise_lr: float = 5e5
    mcmc_opacity_reg: float = 0.01
    mcmc_scale_reg: float = 0.01
    # -- ours (no nerfstudio counterpart) --------------------------------------------------------
    #: No opacity reset within this many steps of the end of training. nerfstudio resets whenever the
    #: step is a multiple of 3000 (until stop_split_at), whatever max_steps is; in a 7000-step run its
    #: reset at 6000 leaves 1000 steps to rebuild every opacity. 3000 keeps all of nerfstudio's resets
    #: in runs of 15000 (the job default) and 30000 steps (its own default). Default 0, nerfstudio's
    #: rule: on fox at 7000 steps, 3000 scored 30.35 dB against 30.63 with the reset at 6000 kept
    #: (one seed; the reset also lets cull_alpha_thresh prune floaters before the end).
    reset_alpha_quiet_steps: int = 0
    #: Weight of the loss that drives alpha to 0 on masked-out pixels (background removal).
    mask_alpha_weight: float = 1.0
    # -- per-image appearance (splatfacto-w-light, `appearance.py`) -------------------------------
    appearance: bool = False  # a colour transform per training image
    lr_appearance: float = 0.05  # log gains' Adam (an image's row moves only when the image is drawn)
    lr_appearance_offset: float = 0.002  # offsets: small, or they trade off against the gains and drift
    #: Transient masking (`robust.py`): up to this share of each image's pixels, those with the largest
    #: (smoothed) error above `robust_mask_floor`, is left out of the loss after `robust_mask_start` steps.
    robust_mask_fraction: float = 0.0
    robust_mask_floor: float = 0.2  # fox, 600 CPU steps: NeRF-W 27.04 dB at 0.1, 27.84 at 0.2 (BENCHMARKS #12)
    robust_mask_start: int = 500
    # -- 3DGUT (`3dgut`, `render_ut.py`) ---------------------------------------------------------
    #: Keep each photo's lens (no undistortion), project with the unscented transform and evaluate
    #: Gaussians in 3D along each pixel's ray (gsplat's with_ut=True, with_eval3d=True).
    with_ut: bool = False


PRESETS: dict[str, Preset] = {
    "splatfacto": Preset(name="splatfacto", background_color="black", stop_screen_size_at=0),  # deviations above
    "splatfacto-big": Preset(name="splatfacto-big", cull_alpha_thresh=0.005, densify_grad_thresh=0.0005),
    "splatfacto-mcmc": Preset(
        name="splatfacto-mcmc",
        strategy="mcmc",
        cull_alpha_thresh=0.005,
        stop_split_at=25000,
        background_color="black",  # this and the init: see the deviations above
        init_opacity=0.5,
        init_scale=0.1,
    ),
    # Splatfacto-W's light configuration in our terms: splatfacto plus per-image appearance and transient
    # masking (`appearance.py` says what we kept of Splatfacto-W and why; no background model).
    "splatfacto-w-light": Preset(
        name="splatfacto-w-light",
        background_color="black",
        stop_screen_size_at=0,
        appearance=True,
        robust_mask_fraction=0.15,
    ),
    # 3DGUT as gsplat trains it (`simple_trainer.py mcmc --with_ut --with_eval3d`, docs/3dgut.md): the
    # MCMC strategy, the only one gsplat supports for it (3D evaluation gives means2d no gradient for
    # the default strategy's densification), on the photos as taken, through their own lens. One
    # deviation: splatfacto's start (opacity 0.1, the full neighbour distance as scale), not gsplat's
    # mcmc one (0.5 and a tenth): Gaussians a tenth of the point spacing leave the first renders full of
    # holes that MCMC fills only after thousands of steps. Synthetic 160-degree fisheye, 300 CPU steps,
    # with the footprint floor (`footprint.py`): 27.78 dB with gsplat's start, 36.16 with this one
    # (docs/BENCHMARKS.md, issue #12; the GPU round re-measures both at 7000 steps).
    "3dgut": Preset(
        name="3dgut",
        strategy="mcmc",
        cull_alpha_thresh=0.005,
        stop_split_at=25000,
        background_color="black",
        with_ut=True,
    ),
}


def resolve(model: str, overrides: Mapping[str, Any] | None = None) -> Preset:
    """The preset for `training.model`, with engine overrides applied (`preset_overrides` setting).

    Every `training.model` of the job spec trains: `nerfacto` and `3dgrt` are external trainers whose
    environments capabilities.py checks, so only an unknown name is refused here.
    """
    if model not in PRESETS:
        raise StageError(f"unknown training.model {model!r}", hint=f"use one of {', '.join(PRESETS)}")
    preset = PRESETS[model]
    if not overrides:
        return preset
    fields = {f.name: f for f in dataclasses.fields(Preset)}
    unknown = sorted(set(overrides) - set(fields) - {"name"})
    if unknown or "name" in overrides:
        raise StageError(
            f"preset_overrides: unknown or fixed field(s) {', '.join(unknown) or 'name'}",
            hint="see gs_stages/splat/presets.py for the field names",
        )
    preset = dataclasses.replace(preset, **{key: _typed(key, value) for key, value in overrides.items()})
    if preset.with_ut and preset.strategy != "mcmc":
        raise StageError(
            "preset_overrides: with_ut (3dgut) trains with the mcmc strategy only",
            hint="its 3D evaluation gives the screen-space gradients the default strategy densifies by no value",
        )
    return preset


#: The preset's fields as pydantic validates them, from their type hints (strict: settings arrive as JSON,
#: so an int is accepted where a float is expected and nothing looser; a Literal takes only its choices).
FIELD_TYPES: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(hint) for name, hint in get_type_hints(Preset).items()}


def _typed(key: str, value: Any) -> Any:
    hint = get_type_hints(Preset)[key]
    try:
        return FIELD_TYPES[key].validate_python(value, strict=True)
    except ValidationError:
        expected = (
            "one of " + ", ".join(get_args(hint))
            if get_origin(hint) is Literal
            else f"a {getattr(hint, '__name__', hint)}"
        )
        raise StageError(f"preset_overrides.{key}: expected {expected}, got {value!r}") from None
