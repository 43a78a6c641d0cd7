"""Synthetic splats for the export tests: random, plus the values where quantisers round halves."""

from __future__ import annotations

import numpy as np

from gs_stages.gaussians import Gaussians

F32 = np.float32


def random_gaussians(n: int, degree: int, seed: int = 0, extent: float = 5.0) -> Gaussians:
    """A plausible trained splat: unnormalised quats, log scales, logit opacities, SH mostly in ±1."""
    rng = np.random.default_rng(seed)
    k = (degree + 1) ** 2
    return Gaussians(
        means=(rng.normal(size=(n, 3)) * extent).astype(F32),
        scales=rng.normal(-4.0, 1.5, size=(n, 3)).astype(F32),
        quats=(rng.normal(size=(n, 4)) * rng.uniform(0.2, 3.0, size=(n, 1))).astype(F32),
        opacities=rng.normal(0.0, 3.0, size=n).astype(F32),
        sh=(rng.normal(size=(n, k, 3)) * 0.4).astype(F32),
    )


def adversarial_gaussians(n: int, degree: int, seed: int = 1) -> Gaussians:
    """Half the values sit exactly on a rounding half of SPZ's quantisers; quats include ties and signs.

    These are the inputs where a codec that rounds differently from Niantic's (half to even, float64
    instead of float32, Python's floor division) produces different bytes.
    """
    rng = np.random.default_rng(seed)
    k = (degree + 1) ** 2

    def mix(exact: np.ndarray, other: np.ndarray) -> np.ndarray:
        return np.where(rng.random(exact.shape) < 0.5, exact, other).astype(F32)

    means = mix((rng.integers(-4000, 4000, (n, 3)) + 0.5) / 4096, rng.uniform(-2000, 2000, (n, 3)))
    scales = mix((rng.integers(0, 256, (n, 3)) + 0.5) / 16 - 10, rng.uniform(-20, 10, (n, 3)))
    ties = np.array(
        [
            [1, 0, 0, 0],
            [0, 0, 0, -1],
            [0.5, 0.5, 0.5, 0.5],
            [-0.5, 0.5, -0.5, 0.5],
            [-0.0, 0.7071068, 0.7071068, 0.0],
            [0.7071068, -0.7071068, 0.0, 0.0],
            [-2.0, 0.0, 0.0, 1e-8],
        ]
    )
    random_quats = rng.normal(size=(n, 4)) * rng.uniform(0.01, 100, (n, 1))
    quats = np.where(rng.random((n, 1)) < 0.3, ties[rng.integers(0, len(ties), n)], random_quats).astype(F32)
    opacities = np.concatenate([rng.normal(0, 10, n - 101), np.linspace(-100, 100, 101)]).astype(F32)
    color_step = F32(0.15) * F32(255)
    dc = mix((rng.integers(0, 256, (n, 3)) + 0.5 - 127.5) / color_step, rng.normal(0, 3, (n, 3)))
    rest = mix((rng.integers(-130, 130, (n, k - 1, 3)) + 0.5) / 128, rng.normal(0, 1.5, (n, k - 1, 3)))
    sh = np.concatenate([dc[:, None, :], rest], axis=1).astype(F32)
    return Gaussians(means=means, scales=scales, quats=quats, opacities=opacities, sh=sh)
