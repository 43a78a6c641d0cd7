"""rotateSplat: one exact rigid rotation of positions, orientations and every SH band of every channel."""

from __future__ import annotations

import numpy as np
import pytest

from gs_stages.export.rotate import matrix_to_quat, quat_multiply, rotate_gaussians, viewer_rotation
from gs_stages.export.sh import SH_C1, SH_C2, SH_C3, band_rotations, fibonacci_directions, sh_basis, sh_color
from gs_stages.gaussians import SH_C0

from .export_splats import random_gaussians


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = (q / np.linalg.norm(q, axis=-1, keepdims=True)).T
    return np.stack(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    ).transpose(2, 0, 1)


def test_basis_is_the_3dgs_basis():
    """Spot values pin the constants and signs of 3DGS's eval_sh (e.g. band 1 is -C1·y, C1·z, -C1·x)."""
    x, y, z = np.eye(3)
    b = sh_basis(np.stack([x, y, z]), 3)
    assert b[:, 0] == pytest.approx([SH_C0] * 3)
    np.testing.assert_allclose(b[0, 1:4], [0, 0, -SH_C1])
    np.testing.assert_allclose(b[1, 1:4], [-SH_C1, 0, 0])
    np.testing.assert_allclose(b[2, 1:4], [0, SH_C1, 0])
    np.testing.assert_allclose(b[2, 4:9], [0, 0, 2 * SH_C2[2], 0, 0])
    np.testing.assert_allclose(b[0, 4:9], [0, 0, -SH_C2[2], 0, SH_C2[4]])
    np.testing.assert_allclose(b[2, 9:16], [0, 0, 0, 2 * SH_C3[3], 0, 0, 0])
    np.testing.assert_allclose(b[0, 9:16], [0, 0, 0, 0, -SH_C3[4], 0, SH_C3[6]])
    d = np.array([[1.0, 1.0, 1.0]]) / 3**0.5
    assert sh_basis(d, 3)[0, 10] == pytest.approx(SH_C3[1] / 3**1.5)  # C3[1]·xyz
    # Orthonormal over the sphere (quadrature on 20000 evenly spread points).
    dirs = fibonacci_directions(20000)
    gram = 4 * np.pi * sh_basis(dirs, 3).T @ sh_basis(dirs, 3) / len(dirs)
    np.testing.assert_allclose(gram, np.eye(16), atol=2e-3)


def test_band_rotations_are_orthogonal():
    rng = np.random.default_rng(0)
    for _ in range(5):
        for band, d in enumerate(band_rotations(random_rotation(rng), 3), start=1):
            assert d.shape == (2 * band + 1, 2 * band + 1)
            np.testing.assert_allclose(d @ d.T, np.eye(2 * band + 1), atol=1e-10)
            assert np.linalg.det(d) == pytest.approx(1.0)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_rotated_colour_along_rotated_direction_equals_original(degree):
    rng = np.random.default_rng(degree)
    g = random_gaussians(400, degree, seed=degree)
    for rotation in (random_rotation(rng), viewer_rotation()):
        rotated = rotate_gaussians(g, rotation)
        d = unit_vectors(rng, len(g))
        want = sh_color(g.sh, d)
        got = sh_color(rotated.sh, d @ rotation.T)
        np.testing.assert_allclose(got, want, atol=2e-6)  # float32 storage of the rotated coefficients
        # Not vacuous: the unrotated coefficients along R·d give a different colour.
        if degree > 0:
            assert np.abs(sh_color(g.sh, d @ rotation.T) - want).max() > 0.05


def test_positions_and_covariances_rotate_rigidly():
    rng = np.random.default_rng(5)
    g = random_gaussians(300, 1, seed=5)
    rotation = random_rotation(rng)
    r = rotate_gaussians(g, rotation)
    np.testing.assert_allclose(r.means, g.means @ rotation.T, atol=1e-5)
    s = np.exp(g.scales.astype(np.float64))[:, None, :]
    m = quat_to_matrix(g.quats.astype(np.float64)) * s
    m_rotated = quat_to_matrix(r.quats.astype(np.float64)) * s
    want = rotation @ (m @ m.transpose(0, 2, 1)) @ rotation.T  # R Σ Rᵀ
    np.testing.assert_allclose(m_rotated @ m_rotated.transpose(0, 2, 1), want, rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(r.scales, g.scales)
    np.testing.assert_array_equal(r.opacities, g.opacities)
    np.testing.assert_array_equal(r.sh[:, 0], g.sh[:, 0])


def test_rotating_back_restores_the_splat():
    rng = np.random.default_rng(7)
    g = random_gaussians(300, 3, seed=7)
    rotation = random_rotation(rng)
    back = rotate_gaussians(rotate_gaussians(g, rotation), rotation.T)
    np.testing.assert_allclose(back.means, g.means, atol=1e-5)
    np.testing.assert_allclose(back.sh, g.sh, atol=1e-5)
    sign = np.sign(np.sum(back.quats * g.quats, axis=1, keepdims=True))  # q and -q: same rotation
    np.testing.assert_allclose(back.quats * sign, g.quats, atol=1e-5)


def test_viewer_rotation_is_180_about_x_and_its_own_inverse():
    rotation = viewer_rotation()
    np.testing.assert_array_equal(rotation, np.diag([1.0, -1.0, -1.0]))
    np.testing.assert_allclose(np.abs(matrix_to_quat(rotation)), [0, 1, 0, 0], atol=1e-12)
    g = random_gaussians(50, 3)
    twice = rotate_gaussians(rotate_gaussians(g, rotation), rotation)
    np.testing.assert_allclose(twice.sh, g.sh, atol=1e-6)
    np.testing.assert_array_equal(twice.means, g.means)


def test_quaternion_helpers_agree_with_matrices():
    rng = np.random.default_rng(3)
    a, b = random_rotation(rng), random_rotation(rng)
    for m in (a, b, np.eye(3), viewer_rotation(), np.diag([-1.0, -1.0, 1.0])):
        np.testing.assert_allclose(quat_to_matrix(matrix_to_quat(m)[None])[0], m, atol=1e-12)
    ab = quat_multiply(matrix_to_quat(a), matrix_to_quat(b))
    np.testing.assert_allclose(quat_to_matrix(ab[None])[0], a @ b, atol=1e-12)


def test_reflections_are_refused():
    with pytest.raises(ValueError, match="proper rotation"):
        rotate_gaussians(random_gaussians(3, 0), np.diag([1.0, 1.0, -1.0]))
