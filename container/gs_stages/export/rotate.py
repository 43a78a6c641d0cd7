"""One exact rigid rotation of a whole splat, and the fixed rotation the `rotateSplat` option applies.

The reference system rotated positions but only some red-channel SH coefficients, so view-dependent
colour pointed the wrong way after rotation. Here every part that carries direction is rotated:
positions (x' = R x), orientations (q' = q_R ⊗ q, so the covariance becomes R Σ Rᵀ), and the SH
coefficients of every band ≥ 1 in every colour channel (`sh.rotate_sh`). Scales, opacities and the
DC colour are rotation invariant. Arithmetic is float64 and results go back to float32.
"""

from __future__ import annotations

import numpy as np

from gs_stages.export.sh import rotate_sh
from gs_stages.gaussians import Gaussians

#: What `viewer_rotation` does, for logs and stage metrics.
VIEWER_ROTATION_DESC = "180 deg about X: OpenCV/COLMAP RDF (y down, z forward) to RUB (y up, z back)"


def viewer_rotation() -> np.ndarray:
    """The rotation `rotateSplat` applies: 180° about X, i.e. diag(1, -1, -1).

    COLMAP/OpenCV world frames inherit the camera convention (y down, z forward) and have no fixed up;
    for handheld captures the cameras are mostly upright, so world -y is roughly "up". Viewers such as
    three.js, PlayCanvas and Niantic's (SPZ's own RUB convention) expect +y up. A fixed matrix keeps
    the behaviour predictable and reversible; estimating up from camera poses is a possible refinement.
    """
    return np.diag([1.0, -1.0, -1.0])


def matrix_to_quat(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a proper rotation matrix (Shepperd's method: stable for all angles)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m)
    candidates = np.array([trace, m[0, 0], m[1, 1], m[2, 2]])
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif k == 1:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif k == 2:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    return q / np.linalg.norm(q)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b of (…, 4) wxyz quaternions: the rotation `b` followed by `a`."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def check_rotation(rotation: np.ndarray) -> np.ndarray:
    """The matrix as float64 (3, 3), or ValueError unless it is a proper rotation (orthonormal, det +1).

    Reflections are refused: a quaternion cannot represent them, so they cannot be applied exactly.
    """
    m = np.asarray(rotation, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f"a rotation is a 3x3 matrix, got shape {m.shape}")
    if not np.allclose(m @ m.T, np.eye(3), atol=1e-6) or np.linalg.det(m) < 0:
        raise ValueError(f"not a proper rotation matrix (orthonormal with determinant +1):\n{m}")
    return m


def rotate_gaussians(g: Gaussians, rotation: np.ndarray) -> Gaussians:
    """The splat rotated rigidly about the origin by `rotation` (3x3); the input is left unchanged."""
    m = check_rotation(rotation)
    means = np.asarray(g.means, dtype=np.float64) @ m.T
    quats = quat_multiply(matrix_to_quat(m), g.quats)
    return Gaussians(
        means=means.astype(np.float32),
        scales=np.array(g.scales, dtype=np.float32),
        quats=quats.astype(np.float32),
        opacities=np.array(g.opacities, dtype=np.float32),
        sh=rotate_sh(np.asarray(g.sh, dtype=np.float32), m),
    )
