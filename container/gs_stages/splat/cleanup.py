"""Floater cleanup, crop and the Gaussian budget: what is removed from a trained splat before delivery.

Training leaves Gaussians that no photo constrains: ones outside every camera's view (never
supervised, often far out where a viewer's orbit shows them as "floaters"), ones too faint to change
an 8-bit pixel, ones that draw (almost) nothing into any photo, ones grown larger than the whole
capture, and small ones floating alone far from any other. The job options
(`postProcessing.cropOutputBounds`, `cropMode`, `cleanSplat`, `training.numGaussians`) choose which rules
run; each rule is a mask over the splat's Gaussians so the stage can report what each removed
(`CleanupReport`).

What decides: the crop keeps what any registered camera of the sparse model sees, by its centre or by what
it draws into that camera's image (`Scene.views`, held-out ones included: the captured scene is what the
whole capture saw, and in a delivered job every photo but the few held out to measure it is a training
view). Of the held-out cameras only poses and intrinsics are read, never a pixel. The clean rules are
guarded by the training views' PSNR. So the held-out PSNR stays a fair measure of what was lost.

The budget caps the count: the MCMC strategy never grows past it (its `cap_max`), and any other
splat over it keeps the Gaussians that draw most of the capture's images (`contribution.py`), or without
a renderer at hand, those of highest `significance`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from gs_stages.jobspec import JobSpec
from gs_stages.splat.contribution import NEGLIGIBLE, Contribution
from gs_stages.splat.model import Params
from gs_stages.splat.scene import Scene, View

#: A Gaussian fainter than this cannot change an 8-bit pixel by itself.
MIN_OPACITY = 1.0 / 255.0
#: Largest axis over this many scene scales (the cameras' radius): larger than the capture itself.
HUGE_SCALE = 2.0
#: Frustum margin, as a fraction of the image size: a Gaussian just outside still spills into the view.
FRUSTUM_MARGIN = 0.15
#: rigid_object crop: the SfM points' 1st..99th percentile box, widened by this fraction per side.
OBJECT_BOX_MARGIN = 0.2
#: Statistical outliers on centres: a Gaussian whose mean distance to its NEIGHBOURS nearest is this many
#: times its neighbours' own (median) is isolated: a simplified local outlier factor, so a sparse but
#: even background is not taken for floaters the way one global distance threshold would take it.
NEIGHBOURS = 8
ISOLATION_RATIO = 3.0
#: A clean rule is skipped when removing what it found lowers the training views' PSNR by more than this:
#: the geometric rules are heuristics, and on real captures (fox, kermit) "huge" and "isolated" also caught
#: background Gaussians the photos need (docs/BENCHMARKS.md). Only training views judge, never held-out ones.
GUARD_DB = 0.05
#: Training views the guard renders (evenly spaced), which bounds its cost on large captures.
GUARD_VIEWS = 12

#: The guard's measure: the mean PSNR of some training views rendered from the given parameters.
Fidelity = Callable[[Params], float]


@dataclass(frozen=True)
class CleanupOptions:
    """Which rules run (all of them here; a job's defaults are the job JSON's: crop and clean off)."""

    crop: bool = True
    crop_mode: str = "environment"  # or "rigid_object"
    clean: bool = True
    budget: int = 1_000_000


def cleanup_options(spec: JobSpec) -> CleanupOptions:
    """The job's choices: `postProcessing.cropOutputBounds`, `cropMode`, `cleanSplat`, `training.numGaussians`."""
    post = spec.post_processing
    return CleanupOptions(post.crop_output_bounds, post.crop_mode, post.clean_splat, spec.training.num_gaussians)


@dataclass
class CleanupReport:
    before: int
    after: int = 0
    removed: dict[str, int] = field(default_factory=dict)  # rule -> Gaussians it removed (first rule wins)
    #: rule -> why the guard kept what it found ("12 Gaussians: removing them cost 0.31 dB on the training views")
    spared: dict[str, str] = field(default_factory=dict)

    def metrics(self) -> dict[str, int | dict[str, int] | dict[str, str]]:
        found = {"gaussians_before_cleanup": self.before, "gaussians_removed": self.removed}
        return {**found, "cleanup_spared": self.spared} if self.spared else found


def cleanup(
    params: Params,
    scene: Scene,
    options: CleanupOptions,
    fidelity: Fidelity | None = None,
    contribution: Contribution | None = None,
) -> tuple[Params, CleanupReport]:
    """`params` without the Gaussians the options' rules remove (new tensors; the input is unchanged).

    With `fidelity` (the stage passes `training_fidelity`), each clean rule is checked against the training
    views first and skipped, with its reason in the report, when what it found is needed there. With
    `contribution` (`contribution.capture_contribution`), the crop keeps what draws into a capture image, the
    "negligible" rule runs and the budget ranks by it.
    """
    points, scene_scale = scene.points, scene.scene_scale
    means = params["means"].detach()
    report = CleanupReport(before=len(means))
    keep = torch.ones(len(means), dtype=torch.bool, device=means.device)

    def apply(rule: str, remove: Tensor) -> None:
        nonlocal keep
        report.removed[rule] = int((remove & keep).sum())
        keep = keep & ~remove

    if options.crop:
        outside = seen_by(means, scene.views) == 0
        if contribution is not None:  # a large Gaussian centred outside every view may still draw into them
            outside &= drawn(params, keep, contribution) < NEGLIGIBLE
        apply("outside_camera_views", outside)
        if options.crop_mode == "rigid_object" and len(points):  # no SfM points (priors only): no box
            apply("outside_object_box", ~inside_box(means, object_box(points)))
    if options.clean:
        current: float | None = None  # the guard's measure of the kept Gaussians, once taken
        opacity = torch.sigmoid(params["opacities"].detach())
        rules: dict[str, Callable[[], Tensor]] = {
            "faint": lambda: opacity < MIN_OPACITY,
            **({"negligible": lambda: drawn(params, keep, contribution) < NEGLIGIBLE} if contribution else {}),
            "huge": lambda: params["scales"].detach().max(dim=1).values > math.log(HUGE_SCALE * scene_scale),
            "isolated": lambda: isolated(means, params["scales"].detach(), keep),
        }
        for rule, find in rules.items():
            remove = find() & keep
            found = int(remove.sum())
            if fidelity is not None and found:
                # the guard: skip the rule when removing what it found costs the training views over GUARD_DB
                current = fidelity(subset(params, keep)) if current is None else current
                without = fidelity(subset(params, keep & ~remove))
                cost = current - without
                if cost > GUARD_DB:
                    report.spared[rule] = f"{found} Gaussians: removing them cost {cost:.2f} dB on the training views"
                    report.removed[rule] = 0
                    continue
                current = without  # the measure of what is kept after this rule
            apply(rule, remove)
    over = int(keep.sum()) - options.budget
    if over > 0:
        # what each Gaussian draws when it is known (contribution.py), else what it could cover (significance)
        importance = drawn(params, keep, contribution) if contribution else significance(params).double()
        importance = importance.masked_fill(~keep, math.inf)  # the already removed are not picked
        weakest = torch.topk(importance, over, largest=False).indices
        remove = torch.zeros_like(keep)
        remove[weakest] = True
        apply("over_budget", remove)
    report.after = int(keep.sum())
    return {name: torch.nn.Parameter(p) for name, p in subset(params, keep).items()}, report


def drawn(params: Params, keep: Tensor, contribution: Contribution) -> Tensor:
    """Each Gaussian's contribution to the images with only the kept ones drawn (0 for the others)."""
    out = torch.zeros(len(keep), dtype=torch.float64, device=keep.device)
    out[keep] = contribution(subset(params, keep)).to(out.device)
    return out


def subset(params: Params, keep: Tensor) -> dict[str, Tensor]:
    """The kept Gaussians' parameters, as plain tensors."""
    return {name: p.detach()[keep].contiguous() for name, p in params.items()}


def training_fidelity(views: Sequence[View], render_psnr: Callable[[Params, View], float]) -> Fidelity:
    """The guard's measure over up to GUARD_VIEWS evenly spaced training views (`render_psnr` renders one)."""
    picked = list(views)[:: max(1, math.ceil(len(views) / GUARD_VIEWS))]

    def fidelity(params: Params) -> float:
        return float(np.mean([render_psnr(params, view) for view in picked]))

    return fidelity


def seen_by(means: Tensor, views: Sequence[View]) -> Tensor:
    """How many of `views` have each centre in front of the camera and inside the (widened) image."""
    count = torch.zeros(len(means), dtype=torch.int32, device=means.device)
    for view in views:
        viewmat, K = view.viewmat.to(means), view.K.to(means)
        cam = means @ viewmat[:3, :3].T + viewmat[:3, 3]
        z = cam[:, 2]
        ahead = z > 1e-6
        u = K[0, 0] * cam[:, 0] / z.clamp(min=1e-6) + K[0, 2]
        v = K[1, 1] * cam[:, 1] / z.clamp(min=1e-6) + K[1, 2]
        mx, my = FRUSTUM_MARGIN * view.width, FRUSTUM_MARGIN * view.height
        inside = (u > -mx) & (u < view.width + mx) & (v > -my) & (v < view.height + my)
        count += (ahead & inside).int()
    return count


def object_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The SfM points' 1st..99th percentile box, widened by OBJECT_BOX_MARGIN of its size per side."""
    low, high = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
    pad = OBJECT_BOX_MARGIN * (high - low)
    return low - pad, high + pad


def inside_box(means: Tensor, box: tuple[np.ndarray, np.ndarray]) -> Tensor:
    low, high = (torch.as_tensor(b, dtype=means.dtype, device=means.device) for b in box)
    return ((means >= low) & (means <= high)).all(dim=1)


def isolated(means: Tensor, log_scales: Tensor, candidates: Tensor) -> Tensor:
    """Small Gaussians far from all others: their mean distance to their NEIGHBOURS nearest (among the
    candidates) is ISOLATION_RATIO times what is usual around them, and their own largest axis does not
    reach that far (a large Gaussian bridging a gap is part of the surface)."""
    out = torch.zeros(len(means), dtype=torch.bool, device=means.device)
    index = torch.nonzero(candidates).squeeze(1)
    if len(index) <= NEIGHBOURS:
        return out
    xyz = means[index].cpu().numpy().astype(np.float64)
    distances, neighbours = cKDTree(xyz).query(xyz, k=NEIGHBOURS + 1)  # the first is the point itself
    spread = distances[:, 1:].mean(axis=1)
    usual = np.median(spread[neighbours[:, 1:]], axis=1)
    far = spread > ISOLATION_RATIO * usual
    small = np.exp(log_scales[index].max(dim=1).values.cpu().numpy()) < spread
    out[index[torch.from_numpy(far & small).to(index.device)]] = True
    return out


def significance(params: Params) -> Tensor:
    """Opacity times the area of the two largest axes: how much of the images a Gaussian can cover."""
    scales = params["scales"].detach()
    top_two = torch.topk(scales, 2, dim=1).values.sum(dim=1)  # log of the product of the two largest
    return torch.sigmoid(params["opacities"].detach()) * torch.exp(top_two)
