"""training.enableMultiGpu: one splat trained by several processes (data_parallel.py), run on the CPU
with torch.distributed's gloo backend, through the real stage entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gs_dagster.resources.sagemaker_request import training_ranks
from gs_stages.export.ply import read_ply
from gs_stages.jobspec import JobSpec
from gs_stages.splat import data_parallel
from gs_stages.splat.presets import PRESETS
from gs_stages.stage import StageError

from .jobs import make_spec, train_splat
from .splat_scenes import SyntheticScene, make_scene
from .test_splat_presets import QUICK  # refinement inside the run: the merged statistics are exercised


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScene:
    return make_scene(tmp_path_factory.mktemp("splat-dp"), n_cameras=16, width=48, height=36)


#: With nerfstudio's screen-space rules (splatfacto's until session 11): with them, 160 CPU steps scored 24.59 dB in
#: one process and 23.92 on 2 ranks; without them (the preset's default since GPU round 9) 24.58 and 22.81, the 2
#: ranks ending with 43k Gaussians against 66k (half the Adam updates; not investigated further, no GPU to run it).
SCREEN_RULES = {**QUICK, "stop_screen_size_at": 4000}


def _run(scene: SyntheticScene, output: Path, steps: int, ranks: int | None, **settings: Any) -> dict:
    if ranks is not None:
        settings["data_parallel_ranks"] = ranks
    return train_splat(scene, output, steps, SCREEN_RULES, job={"training.enableMultiGpu": "true"}, **settings)


@pytest.mark.slow
def test_two_ranks_train_one_splat_as_well_as_one_process(scene: SyntheticScene, tmp_path: Path) -> None:
    single = _run(scene, tmp_path / "one", steps=160, ranks=None)
    assert single["multi_gpu_note"] == "enableMultiGpu: no GPU, trained in one CPU process"
    double = _run(scene, tmp_path / "two", steps=160, ranks=2)

    assert double["data_parallel"]["ranks"] == 2 and double["steps"] == 80  # 80 steps of 2 views each
    assert double["data_parallel"]["rank_divergence"] == 0.0  # every rank ended with the same parameters
    assert "multi_gpu_note" not in double
    splat = read_ply(tmp_path / "two" / "splat.ply")  # one splat, written once
    assert len(splat.means) == double["num_gaussians"] != 3000  # densification ran (and alike on both ranks)
    # The same views trained on, in half the steps: the held-out quality holds.
    assert double["psnr"] > single["psnr"] - 1.0, (double["psnr"], single["psnr"])
    assert double["psnr"] > 18.0


def test_a_rank_stopped_mid_run_resumes_from_rank_zeros_checkpoint(scene: SyntheticScene, tmp_path: Path) -> None:
    out = tmp_path / "dp"
    with pytest.raises(StageError, match=r"multi-GPU training failed on a rank: .*stopped after step 20"):
        _run(scene, out, steps=60, ranks=2, checkpoint_every=10, stop_after=20)
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == ["step-000010.pt", "step-000020.pt"]
    assert not (out / "splat.ply").exists()
    resumed = _run(scene, out, steps=60, ranks=2, checkpoint_every=10)
    assert resumed["steps"] == 30 and resumed["data_parallel"]["resumed_from_step"] == 20
    assert resumed["data_parallel"]["rank_divergence"] == 0.0


def test_the_presets_schedules_count_batches_and_the_rates_follow_the_batch() -> None:
    base = PRESETS["splatfacto"]
    four = data_parallel.scaled_preset(base, 4)
    assert (four.refine_every, four.warmup_length, four.stop_split_at) == (25, 125, 3750)
    assert four.reset_alpha_every == base.reset_alpha_every  # counted in refinements, not steps
    assert four.lr_opacities == pytest.approx(base.lr_opacities * 2.0)
    assert data_parallel.scaled_preset(base, 1) is base
    assert data_parallel.scaled_steps(15000, 4) == 3750 and data_parallel.scaled_steps(7, 2) == 4


def test_how_many_ranks_train() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert data_parallel.ranks_for(False, cuda, None) == (1, None)
    assert data_parallel.ranks_for(True, cpu, None) == (1, "enableMultiGpu: no GPU, trained in one CPU process")
    assert data_parallel.ranks_for(True, cpu, 2) == (2, None)
    if torch.cuda.device_count() < 8:
        with pytest.raises(StageError, match=r"data_parallel_ranks=8 but only .* GPU"):
            data_parallel.ranks_for(True, cuda, 8)


def test_settings_refuse_a_bad_rank_count(scene: SyntheticScene, tmp_path: Path) -> None:
    with pytest.raises(StageError, match="setting data_parallel_ranks must be at least 1, got 0"):
        _run(scene, tmp_path, steps=2, ranks=0)


@pytest.mark.parametrize(
    ("instance", "multi", "expected"),
    [("ml.g5.12xlarge", True, 4), ("ml.g5.4xlarge", True, None), ("ml.g5.12xlarge", False, None)],
)
def test_the_sagemaker_request_asks_for_one_rank_per_gpu(instance: str, multi: bool, expected: int | None) -> None:
    spec: JobSpec = make_spec(**{"instanceType": instance, "training.enableMultiGpu": multi})
    assert training_ranks(spec, ["sparse_model", "splat"]) == expected
    assert training_ranks(spec, ["frames"]) is None  # no training in this launch
