"""The trained splat as plain arrays: the one exchange type between training, export and rotation.

Conventions (those of the 3DGS .ply): `scales` are log-scales, `opacities` are logits, `quats` are
unit quaternions in (w, x, y, z) order, `sh` holds spherical-harmonic coefficients per colour channel
with the DC term first: shape (N, (degree + 1) ** 2, 3).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# Real spherical-harmonic constants of the 3DGS / gsplat basis, degree 0..3 (shared by the renderer
# and the SH rotation, which must use the same basis and signs).
SH_C0 = 0.28209479177387814  # Y_0^0; colour = SH_C0 * f_dc + 0.5
SH_C1 = 0.4886025119029199
SH_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


@dataclass
class Gaussians:
    means: np.ndarray  # (N, 3) float32
    scales: np.ndarray  # (N, 3) float32, log
    quats: np.ndarray  # (N, 4) float32, wxyz
    opacities: np.ndarray  # (N,) float32, logit
    sh: np.ndarray  # (N, K, 3) float32, K = (degree + 1) ** 2

    def __post_init__(self) -> None:
        n = len(self.means)
        for name in ("scales", "quats", "opacities", "sh"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Gaussians.{name} has {len(getattr(self, name))} rows, means has {n}")
        if self.sh.ndim != 3 or self.sh.shape[2] != 3:
            raise ValueError(f"Gaussians.sh must be (N, K, 3), got {self.sh.shape}")
        sh_degree(self.sh.shape[1])  # validates K

    def __len__(self) -> int:
        return len(self.means)

    @property
    def degree(self) -> int:
        return sh_degree(self.sh.shape[1])

    def up_to_degree(self, degree: int) -> Gaussians:
        """These Gaussians with SH bands above `degree` dropped (a run that stopped before reaching the
        full degree never used them: they are zeros that would only make the files bigger)."""
        if not 0 <= degree <= self.degree:
            raise ValueError(f"cannot keep SH degree {degree} of a degree-{self.degree} splat")
        return dataclasses.replace(self, sh=self.sh[:, : (degree + 1) ** 2])


def sh_degree(coefficients: int) -> int:
    degree = round(coefficients**0.5) - 1
    if (degree + 1) ** 2 != coefficients or not 0 <= degree <= 3:
        raise ValueError(f"{coefficients} SH coefficients per channel is not a degree 0..3 layout")
    return degree


def rgb_to_sh_dc(rgb: np.ndarray) -> np.ndarray:
    return (rgb - 0.5) / SH_C0
