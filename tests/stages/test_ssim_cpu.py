"""The compiled D-SSIM loss (splat/ssim_cpu.py) equals the PyTorch one in value and gradient.

Tolerances: value within 1e-6, gradient within 1e-5 of its largest element (float32 sums in a
different order than torch's convolutions; measured errors are several times smaller).
"""

from __future__ import annotations

import os

import pytest
import torch

from gs_stages.splat import ssim_cpu
from gs_stages.splat.metrics import ssim_separable
from gs_stages.splat.train import pick_ssim

pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and ssim_cpu.import_error() is not None, reason="the CPU SSIM kernel did not build"
)


@pytest.mark.parametrize(("height", "width", "threads"), [(37, 53, 1), (64, 91, 2), (11, 11, 1)])
def test_compiled_ssim_matches_the_separable_one(height: int, width: int, threads: int) -> None:
    generator = torch.Generator().manual_seed(height)
    target = torch.rand(height, width, 3, generator=generator)
    prediction = (target + 0.2 * torch.randn(height, width, 3, generator=generator)).clamp(0, 1)
    reference, compiled = prediction.clone().requires_grad_(), prediction.clone().requires_grad_()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        value = ssim_cpu.ssim(compiled, target)
        (2.0 * value).backward()
    finally:
        torch.set_num_threads(before)
    expected = ssim_separable(reference, target)
    (2.0 * expected).backward()
    assert 0.1 < expected.item() < 0.95
    assert abs(value.item() - expected.item()) < 1e-6
    scale = float(reference.grad.abs().max())
    assert torch.allclose(compiled.grad, reference.grad, atol=1e-5 * scale, rtol=0)


def test_identical_images_score_one_and_the_trainer_picks_the_compiled_ssim_on_a_cpu() -> None:
    image = torch.rand(40, 30, 3, generator=torch.Generator().manual_seed(1))
    assert float(ssim_cpu.ssim(image, image)) == pytest.approx(1.0, abs=1e-6)
    assert pick_ssim("auto", torch.device("cpu")) is ssim_cpu.ssim
    assert pick_ssim("torch", torch.device("cpu")) is ssim_separable
    with pytest.raises(RuntimeError, match="at least 11x11"):
        ssim_cpu.ssim(torch.rand(10, 30, 3), torch.rand(10, 30, 3))
