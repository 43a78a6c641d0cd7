"""An external trainer's progress reaches the stage's tracker (and so the Dagster UI): the runners' progress
lines (grt_run.py inside 3DGRUT's loop, nerfacto_run.py inside nerfstudio's) are read by the stage side
(external_trainer.run_logged), kept out of the log and of a failure's lines, and malformed ones are ignored.

3DGRUT and nerfstudio do not run here (CUDA, a venv of several GB): their trainers are stood in for by
objects with the attributes the runners wrap (3DGRUT a37ef72 `Trainer3DGRUT.log_training_iter`, called after
`global_step` is counted; nerfstudio 1.1.5 `Trainer.train_iteration(step)`, steps from 0).
"""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from gs_stages.external_trainer import PROGRESS_PREFIX, read_progress, run_logged
from gs_stages.grt import grt_run
from gs_stages.nerf import nerfacto_run
from gs_stages.progress import ProgressTracker, ProgressUpdate
from gs_stages.stage import StageError


class FakeGrtTrainer:
    """What grt_run.report_progress touches of 3DGRUT's Trainer3DGRUT."""

    def __init__(self, n_iterations: int) -> None:
        self.n_iterations, self.global_step = n_iterations, 0
        self.model = SimpleNamespace(num_gaussians=100)
        self.logged: list[int] = []

    def log_training_iter(self, gpu_batch: Any, outputs: Any, batch_metrics: dict, iteration: int | None = None):
        self.logged.append(self.global_step)

    def step(self, loss: Any) -> None:  # as run_train_iter: count the step, grow, then log it
        self.global_step += 1
        self.model.num_gaussians += 10
        self.log_training_iter({}, {}, {"losses": {"total_loss": loss}}, self.global_step - 1)


def printed(capsys: pytest.CaptureFixture[str]) -> list[tuple[int, dict]]:
    lines = capsys.readouterr().out.splitlines()
    found = [read_progress(line) for line in lines]
    assert None not in found, lines
    return found  # type: ignore[return-value]


def test_the_runners_spell_the_stages_prefix() -> None:
    assert grt_run.PROGRESS_PREFIX == nerfacto_run.PROGRESS_PREFIX == PROGRESS_PREFIX


def test_3dgrut_steps_are_reported_with_loss_and_gaussians(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = FakeGrtTrainer(n_iterations=4)
    grt_run.report_progress(trainer, every_s=0.0)
    for loss in (0.5, torch.tensor(0.25), [torch.tensor(0.2), 0.1], float("nan")):  # forms 3DGRUT keeps
        trainer.step(loss)
    assert trainer.logged == [1, 2, 3, 4]  # 3DGRUT's own logging still runs
    assert printed(capsys) == [
        (1, {"Gaussians": 110, "loss": 0.5}),
        (2, {"Gaussians": 120, "loss": 0.25}),
        (3, {"Gaussians": 130, "loss": 0.15}),
        (4, {"Gaussians": 140}),  # a NaN loss is left out, the step is not
    ]


def test_3dgrut_reports_are_throttled_but_the_last_step_always_comes(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = FakeGrtTrainer(n_iterations=500)
    grt_run.report_progress(trainer, every_s=3600.0)
    for _ in range(500):
        trainer.step(0.1)
    assert [step for step, _ in printed(capsys)] == [1, 500]


def nerfstudio_trainer_class() -> type:
    class FakeNerfstudioTrainer:
        def __init__(self, start: int, steps: int) -> None:
            self._start_step, self.config = start, SimpleNamespace(max_num_iterations=steps)

        def train_iteration(self, step: int) -> tuple[torch.Tensor, dict, dict]:
            return torch.tensor(1.0 / (step + 1)), {}, {}

    nerfacto_run.report_progress(FakeNerfstudioTrainer, every_s=3600.0)  # one wrapped class per runner process
    return FakeNerfstudioTrainer


def test_nerfstudio_steps_are_reported_from_one_with_the_runs_end(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = nerfstudio_trainer_class()(start=0, steps=300)
    outputs = [trainer.train_iteration(step) for step in range(300)]
    assert float(outputs[1][0]) == 0.5  # the wrapped method's output is returned unchanged
    assert printed(capsys) == [(1, {"loss": 1.0}), (300, {"loss": round(1 / 300, 5)})]
    resumed = nerfstudio_trainer_class()(start=100, steps=50)  # a resumed run ends at its start + its steps
    for step in range(100, 150):
        resumed.train_iteration(step)
    assert [step for step, _ in printed(capsys)] == [101, 150]


@pytest.mark.parametrize(
    "line",
    [
        "GS_PROGRESS not json",
        'GS_PROGRESS {"figures": {}}',
        'GS_PROGRESS {"step": -1}',
        'GS_PROGRESS {"step": true}',
        'GS_PROGRESS {"step": 3, "figures": [1]}',
        '{"step": 3}',
        "step 3/10",
    ],
)
def test_anything_but_a_well_formed_progress_line_is_not_progress(line: str) -> None:
    assert read_progress(line) is None


def test_figures_that_are_not_finite_numbers_are_dropped() -> None:
    line = PROGRESS_PREFIX + '{"step": 7, "figures": {"loss": 0.5, "x": "a", "ok": true, "n": 3, "inf": 1e999}}'
    assert read_progress(line) == (7, {"loss": 0.5, "n": 3})


RUNNER = """
import sys
from types import SimpleNamespace
sys.path.insert(0, {grt!r})
import grt_run  # as the stage starts it: a script beside its siblings, nothing of gs_stages imported
class Trainer:
    n_iterations, global_step = 6, 0
    model = SimpleNamespace(num_gaussians=436)
    def log_training_iter(self, *args):
        print("3DGRUT: step", self.global_step, flush=True)
trainer = Trainer()
grt_run.report_progress(trainer, every_s=0.0)
print('GS_PROGRESS {{"step": "garbled"}}', flush=True)
for _ in range(6):
    trainer.global_step += 1
    trainer.log_training_iter(None, None, {{"losses": {{"total_loss": 0.5 / trainer.global_step}}}})
print("3DGRUT: done", flush=True)
{ending}
"""


def run_runner(tmp_path: Path, ending: str, caplog: pytest.LogCaptureFixture) -> tuple[list[ProgressUpdate], Path]:
    script = tmp_path / "runner.py"
    grt = str(Path(grt_run.__file__).parent)
    script.write_text(textwrap.dedent(RUNNER.format(grt=grt, ending=ending)))
    sent: list[ProgressUpdate] = []
    tracker = ProgressTracker("splat", "training", 6, sent.append, interval_s=0.0)
    result = tmp_path / "result.json"
    caplog.set_level(logging.DEBUG, logger="test.runner")
    run_logged(
        [sys.executable, str(script)], logging.getLogger("test.runner"), "3dgrt", result, "hint", tracker=tracker
    )
    return sent, result


def test_a_runners_progress_reaches_the_stages_tracker(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ending = f"open({str(tmp_path / 'result.json')!r}, 'w').write('{{}}')"
    sent, result = run_runner(tmp_path, ending, caplog)
    assert result.is_file()
    assert [u.step for u in sent] == [1, 2, 3, 4, 5, 6]
    assert sent[-1].figures == {"Gaussians": 436, "loss": round(0.5 / 6, 5)}
    assert sent[-1].text().startswith("splat training: step 6/6 (100%), 436 Gaussians, loss 0.0833")
    assert "3dgrt: 3DGRUT: done" in caplog.text and "3dgrt: 3DGRUT: step 6" in caplog.text
    # progress goes to the tracker, not the log; a garbled progress line is logged as an ordinary line
    assert [r.getMessage() for r in caplog.records if PROGRESS_PREFIX in r.getMessage()] == [
        '3dgrt: GS_PROGRESS {"step": "garbled"}'
    ]


def test_a_failing_runners_error_names_its_own_lines_not_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(StageError) as failed:
        run_runner(tmp_path, "sys.exit('CUDA error: out of memory')", caplog)
    message = str(failed.value)
    assert "CUDA error: out of memory" in message and "3DGRUT: done" in message
    assert '"step": 1' not in message  # the well-formed progress lines are not among the error's lines
