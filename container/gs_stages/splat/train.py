"""The training loop: one random training view per step, L1 + D-SSIM, then densification.

Read top to bottom, one step is: pick the next view (a fresh random order every epoch), pick its
resolution (coarse to fine), render it over a random background colour with the SH degree reached
so far, compare with the photo, step every Adam, move the means' learning rate along its decay, and
let the strategy grow, prune or relocate Gaussians. This is splatfacto's loop (nerfstudio's
`SplatfactoModel` and `Trainer`), with these additions:

* masks (background removal): the colour loss sees only object pixels (photo and render both zeroed
  elsewhere, as nerfstudio does), and an alpha loss pulls the render's opacity to 0 on the removed
  background, so the object comes out without a halo of background-coloured Gaussians;
* pixels that undistortion could not fill are left out of both losses;
* no opacity reset in the last `reset_alpha_quiet_steps` of a run (`presets.py` says why);
* `3dgut`: each view renders through its own lens (`lens.camera_kwargs`, `render_ut.py`);
* transient masking (`splatfacto-w-light`, `robust.py`): the pixels with the largest error are left out;
* per-image appearance (`splatfacto-w-light`, `appearance.py`): the render goes through the drawn
  image's colour transform before the loss;
* several GPUs (`data_parallel.py`): each rank renders its own view of the step, gradients are
  averaged across ranks, and rank 0 alone writes checkpoints;
* checkpoints every `checkpoint_every` steps and resume from the newest one (`checkpoint.py`);
  every random draw comes from one generator that is saved with it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gs_stages.progress import ProgressTracker
from gs_stages.splat import appearance, checkpoint
from gs_stages.splat.backend import Renderer
from gs_stages.splat.data_parallel import DataParallel
from gs_stages.splat.densify import DefaultStrategy, Strategy, make_strategy
from gs_stages.splat.lens import camera_kwargs
from gs_stages.splat.model import Params, activated, init_params, make_optimizers, means_lr
from gs_stages.splat.presets import Preset
from gs_stages.splat.profiling import StepProfiler
from gs_stages.splat.scene import Scene, View
from gs_stages.splat.settings import EngineSettings
from gs_stages.splat.training_loss import pick_ssim, training_loss
from gs_stages.stage import StageError

log = logging.getLogger("gs_stages.splat")


class TrainingStopped(StageError):
    """Raised by the `stop_after` setting: the run stops as if killed, after saving nothing more."""


@dataclass
class TrainResult:
    params: Params
    steps: int  # completed steps, == max_steps when training finished
    resumed_from: int | None  # the checkpoint's step when this run continued an earlier one
    train_seconds: float  # time in the loop, summed over the runs that made these steps
    profile: dict[str, Any] | None = None  # the profiled window's summary (settings.profile_steps)


class Trainer:
    def __init__(
        self,
        scene: Scene,
        preset: Preset,
        settings: EngineSettings,
        renderer: Renderer,
        device: torch.device,
        checkpoint_dir: Path,
        profile_output: Path | None = None,
    ):
        self.scene, self.preset, self.settings = scene, preset, settings
        self.renderer, self.device, self.checkpoint_dir = renderer, device, Path(checkpoint_dir)
        self.profile_output = profile_output
        self.generator = torch.Generator(device=device).manual_seed(settings.seed)
        self.strategy: Strategy  # made by run(): its opacity-reset schedule depends on max_steps
        self.absgrad = preset.use_absgrad and preset.strategy == "default"  # splatfacto: only the default one
        self.ssim = pick_ssim(settings.ssim, device)
        self.views: dict[tuple[int, int], View] = {}  # (train index, downscale) -> view on the device
        self.queue: list[int] = []
        self.appearance = appearance.for_preset(preset, len(scene.train), device)  # None unless the preset has one
        self.parallel: DataParallel | None = None  # set by data_parallel's ranks; None: one process
        self.fingerprint = {
            "preset": dataclasses.asdict(preset),
            "train_views": [v.name for v in scene.train],
            "downscale": scene.downscale,
            "seed": settings.seed,
            "strategy_impl": settings.strategy_impl,
        }

    # -- state: fresh, or from the newest checkpoint -------------------------------------------------

    def start(self) -> tuple[int, float, int | None]:
        """Set up parameters, optimizers and strategy state; returns (step, seconds so far, resumed)."""
        scale = self.scene.scene_scale
        found = checkpoint.latest(self.checkpoint_dir)
        if found is None:
            self.params = init_params(self.scene.points, self.scene.colors, self.preset, self.generator, self.device)
            self.optimizers = make_optimizers(self.params, self.preset, scale, self.settings.optimizer)
            self.state = self.strategy.initialize_state(scene_scale=scale)
            return 0, 0.0, None
        data = checkpoint.load(found, self.fingerprint)
        self.params = {k: torch.nn.Parameter(v.to(self.device)) for k, v in data["params"].items()}
        self.optimizers = make_optimizers(self.params, self.preset, scale, self.settings.optimizer)
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(data["optimizers"][name])
        self.state = {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in data["strategy"].items()}
        self.queue = list(data["queue"])
        if self.appearance is not None:
            self.appearance.load(data["appearance"])
        checkpoint.restore_rng(data["rng"], self.generator)
        log.info("resuming from %s (step %d, %d Gaussians)", found.name, data["step"], len(self.params["means"]))
        return data["step"], data["train_seconds"], data["step"]

    def save(self, step: int, seconds: float) -> Path | None:
        if self.parallel is not None and not self.parallel.writer:
            return None  # every rank holds the same state: rank 0 writes it
        payload = {
            "fingerprint": self.fingerprint,
            "params": {k: p.detach().cpu() for k, p in self.params.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "strategy": {k: v.cpu() if isinstance(v, Tensor) else v for k, v in self.state.items()},
            "queue": list(self.queue),
            "rng": checkpoint.rng_states(self.generator),
            "train_seconds": seconds,
        }
        if self.appearance is not None:
            payload["appearance"] = self.appearance.state()
        return checkpoint.save(self.checkpoint_dir, step, payload, keep=self.settings.keep_checkpoints)

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, max_steps: int, tracker: ProgressTracker | None = None) -> TrainResult:
        """Train up to `max_steps`; `tracker` gets the step, loss, Gaussians (throttled: see gs_stages.progress)."""
        self.strategy = make_strategy(
            self.preset, len(self.scene.train), self.generator, self.settings.strategy_impl, max_steps
        )
        if self.parallel is not None and isinstance(self.strategy, DefaultStrategy):
            self.strategy.before_refine = self.parallel.merge_refine_state
        step, seconds, resumed = self.start()
        begin = step
        clock = time.perf_counter()
        every = self.settings.checkpoint_every
        profiler = self.step_profiler(max_steps)
        if tracker is not None:
            tracker.update(begin, {"Gaussians": len(self.params["means"])})
        for step in range(begin, max_steps):
            if profiler:
                profiler.before(step)
            loss = self.train_step(step, max_steps)
            done = step + 1
            if profiler:
                profiler.after(done, len(self.params["means"]))
            if tracker is not None and tracker.due(done):  # loss.item() waits for the GPU: only when sent
                tracker.update(done, {"loss": round(loss.item(), 5), "Gaussians": len(self.params["means"])})
            if done % 500 == 0 or done == max_steps:
                log.info(
                    "step %d/%d: loss %.4f, %d Gaussians",
                    done,
                    max_steps,
                    loss.item(),
                    len(self.params["means"]),
                )
            if every and done % every == 0 and done < max_steps:
                self.save(done, seconds + time.perf_counter() - clock)
            stop = self.settings.stop_after
            if stop is not None and begin < done < max_steps and done >= stop:
                raise TrainingStopped(f"stopped after step {done} (engine setting stop_after)")
        seconds += time.perf_counter() - clock
        final = max(begin, max_steps)
        if resumed is None or final > begin:
            self.save(final, seconds)  # lets a re-run of a finished stage skip straight to evaluation
        return TrainResult(self.params, final, resumed, seconds, profiler.summary if profiler else None)

    def step_profiler(self, max_steps: int) -> StepProfiler | None:
        steps = self.settings.profile_steps
        if not steps or self.profile_output is None:
            return None
        start = self.settings.profile_start if self.settings.profile_start is not None else max_steps // 2
        start = min(start, max(0, max_steps - steps))  # the whole window inside the run
        return StepProfiler(start, min(steps, max_steps - start), self.profile_output, self.device)

    def train_step(self, step: int, max_steps: int) -> Tensor:
        preset = self.preset
        index = self.next_view()
        view = self.view(index, self.downscale(step))
        background = self.background()
        renders, alphas, info = self.renderer(
            **activated(self.params),
            viewmats=view.viewmat[None],
            Ks=view.K[None],
            width=view.width,
            height=view.height,
            sh_degree=self.sh_degree(step),
            backgrounds=background[None],
            absgrad=self.absgrad,
            **camera_kwargs(view.lens, self.device),
        )
        self.strategy.step_pre_backward(self.params, self.optimizers, self.state, step, info)
        render = renders[0]
        if self.appearance is not None:
            render = self.appearance.apply(render, alphas[0, ..., 0], index)
        loss = self.loss(render.clamp(0.0, 1.0), alphas[0, ..., 0], view, step)
        loss.backward()
        # SelectiveAdam's step takes which Gaussians this step's camera saw; torch's Adam takes nothing.
        visible = ((info["radii"] > 0).all(dim=-1).any(dim=0),) if self.settings.optimizer == "selective_adam" else ()
        if self.parallel is not None:
            extra = self.appearance.parameters() if self.appearance is not None else []
            self.parallel.average_gradients([*self.params.values(), *extra])
            visible = tuple(self.parallel.union(v) for v in visible)
        for optimizer in self.optimizers.values():
            optimizer.step(*visible)
            optimizer.zero_grad(set_to_none=True)
        if self.appearance is not None:
            self.appearance.step((step + 1) / max_steps)
        lr = means_lr(preset, self.scene.scene_scale, step + 1, max_steps)
        self.optimizers["means"].param_groups[0]["lr"] = lr
        # densify.py takes the means' rate in nerfstudio's normalised units (see presets.py).
        self.strategy.step_post_backward(
            self.params, self.optimizers, self.state, step, info, lr=lr / self.scene.scene_scale
        )
        return loss.detach()

    def loss(self, render: Tensor, alpha: Tensor, view: View, step: int = 0) -> Tensor:
        """This step's loss (`training_loss.py`): the preset's photometric loss and regularisers."""
        return training_loss(self.preset, render, alpha, view, step, self.ssim, self.params, self.scene.scene_scale)

    # -- helpers -----------------------------------------------------------------------------------

    def next_view(self) -> int:
        """Each training view once per epoch, in a new random order every epoch."""
        if self.parallel is not None:  # a batch of `world` draws, alike on every rank; each takes its own
            return self.parallel.pick([self._draw() for _ in range(self.parallel.world)])
        return self._draw()

    def _draw(self) -> int:
        if not self.queue:
            order = torch.randperm(len(self.scene.train), generator=self.generator, device=self.generator.device)
            self.queue = order.tolist()
        return self.queue.pop(0)

    def view(self, index: int, factor: int) -> View:
        key = (index, factor)
        if key not in self.views:
            view = self.scene.train[index].downscaled(factor)
            self.views[key] = _to_device(view, self.device)
        return self.views[key]

    def background(self) -> Tensor:
        if self.preset.background_color == "random":
            return torch.rand(3, generator=self.generator, device=self.generator.device).to(self.device)
        value = 1.0 if self.preset.background_color == "white" else 0.0
        return torch.full((3,), value, device=self.device)

    def downscale(self, step: int) -> int:
        """Coarse to fine: 1/2^num_downscales of the resolution at first, doubled every resolution_schedule."""
        return 2 ** max(self.preset.num_downscales - step // self.preset.resolution_schedule, 0)

    def sh_degree(self, step: int) -> int:
        return min(step // self.preset.sh_degree_interval, self.preset.sh_degree)


def _to_device(view: View, device: torch.device) -> View:
    def move(t: Any) -> Any:
        return t.to(device) if isinstance(t, Tensor) else t

    return dataclasses.replace(
        view,
        image=move(view.image),
        viewmat=move(view.viewmat),
        K=move(view.K),
        mask=move(view.mask),
        valid=move(view.valid),
    )
