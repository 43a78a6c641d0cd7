"""Real spherical harmonics as 3DGS and gsplat evaluate them, and their exact rotation.

The basis below is the one in 3DGS's `eval_sh` (and gsplat's `spherical_harmonics`): the constants
C0, C1, C2[5], C3[7], including their signs, and the coefficient order within each band. Using the
renderer's own basis matters because a rotation built in a different sign convention would rotate
view-dependent colour into the wrong directions even though it looks like a valid rotation.

Rotating SH: a band-l colour function f(d) = c·Y_l(d) evaluated on rotated directions is still a
band-l function (each band is closed under rotation), so f(Rᵀu) = c'·Y_l(u) for exactly one c'.
`band_rotations` finds the linear map c → c' by evaluating the basis on a fixed, well-spread set of
directions and solving least squares. Because the target lies exactly in the span of the basis, the
fit has zero residual (up to float rounding): it is an exact construction, not an approximation, and
needs no Wigner-D recurrences whose sign conventions would have to be matched to 3DGS by hand. With an
orthonormal basis the resulting matrices are orthogonal, which the tests check.
"""

from __future__ import annotations

import numpy as np

from gs_stages.gaussians import SH_C0, SH_C1, SH_C2, SH_C3, sh_degree

# A Fibonacci sphere: evenly spread, deterministic, and far more points (64) than the 7 unknowns per
# row of the largest band, so the least-squares systems are well conditioned.
_FIT_POINTS = 64


def sh_basis(dirs: np.ndarray, degree: int) -> np.ndarray:
    """The 3DGS SH basis at unit directions `dirs` (M, 3): shape (M, (degree + 1) ** 2), DC first."""
    d = np.asarray(dirs, dtype=np.float64)
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    cols = [np.full_like(x, SH_C0)]
    if degree >= 1:
        cols += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        cols += [
            SH_C2[0] * x * y,
            SH_C2[1] * y * z,
            SH_C2[2] * (2 * zz - xx - yy),
            SH_C2[3] * x * z,
            SH_C2[4] * (xx - yy),
        ]
    if degree >= 3:
        cols += [
            SH_C3[0] * y * (3 * xx - yy),
            SH_C3[1] * x * y * z,
            SH_C3[2] * y * (4 * zz - xx - yy),
            SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            SH_C3[4] * x * (4 * zz - xx - yy),
            SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3 * yy),
        ]
    return np.stack(cols, axis=1)


def sh_color(sh: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Colour (before clamping) of each Gaussian seen along its unit direction: sh (N, K, 3), dirs (N, 3)."""
    degree = sh_degree(sh.shape[1])
    basis = sh_basis(dirs, degree)  # (N, K)
    return np.einsum("nk,nkc->nc", basis, np.asarray(sh, dtype=np.float64)) + 0.5


def fibonacci_directions(count: int) -> np.ndarray:
    """`count` unit vectors spread evenly over the sphere (deterministic)."""
    i = np.arange(count, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * i / count
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (1.0 + 5.0**0.5) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def band_rotations(rotation: np.ndarray, degree: int) -> list[np.ndarray]:
    """Per band l = 1..degree, the (2l+1)² matrix D with c' = D @ c for a splat rotated by `rotation`.

    Defined by c'·Y_l(R d) = c·Y_l(d) for every direction d: the rotated splat shows along R·d the
    colour the original showed along d.
    """
    rot = np.asarray(rotation, dtype=np.float64)
    dirs = fibonacci_directions(_FIT_POINTS)
    basis = sh_basis(dirs, degree)
    # Rows of `dirs @ rot` are Rᵀu: the original direction that ends up along u after rotating.
    basis_back = sh_basis(dirs @ rot, degree)
    matrices = []
    for band in range(1, degree + 1):
        cols = slice(band * band, (band + 1) * (band + 1))
        # With Y(Rᵀu) = P·Y(u), the rows satisfy basis_back = basis·Pᵀ, and c·Y(Rᵀu) = (Pᵀc)·Y(u):
        # the least-squares solution is Pᵀ, which is exactly the D that maps c to c'.
        solution, *_ = np.linalg.lstsq(basis[:, cols], basis_back[:, cols], rcond=None)
        residual = np.abs(basis[:, cols] @ solution - basis_back[:, cols]).max()
        if residual > 1e-9:  # pragma: no cover - would mean the basis is not closed under rotation
            raise ArithmeticError(f"SH band {band} rotation fit left a residual of {residual:.3g}")
        matrices.append(solution)
    return matrices


def rotate_sh(sh: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """SH coefficients (N, K, 3) of a splat rotated by `rotation`: every band ≥ 1, every channel; DC kept."""
    sh64 = np.asarray(sh, dtype=np.float64)
    degree = sh_degree(sh64.shape[1])
    out = sh64.copy()
    for band, matrix in enumerate(band_rotations(rotation, degree), start=1):
        cols = slice(band * band, (band + 1) * (band + 1))
        out[:, cols, :] = np.einsum("ij,njc->nic", matrix, sh64[:, cols, :])
    return out.astype(np.asarray(sh).dtype, copy=False)
