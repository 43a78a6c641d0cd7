"""The standard 3DGS `.ply`: what the original implementation, gsplat, nerfstudio and every splat viewer read.

Layout (binary little endian, one `vertex` element, all `float` properties, in this order):
x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity scale_0..2 rot_0..3. Values are stored as
trained: log scales, logit opacity, rot_0 = w. The normals are zeros that some viewers require.
`f_rest` is channel-major, as 3DGS writes `features_rest.transpose(1, 2).flatten()`:
f_rest_{c·(K-1) + k} is coefficient k+1 of channel c, i.e. all red bands ≥ 1, then green, then blue.
No comments are written: some loaders (older Niantic spz, several web viewers) reject header comments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from gs_stages.gaussians import Gaussians, sh_degree


def property_names(degree: int) -> list[str]:
    """The vertex properties of a degree-`degree` splat, in file order."""
    rest = 3 * ((degree + 1) ** 2 - 1)
    return [
        *("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"),
        *(f"f_rest_{i}" for i in range(rest)),
        "opacity",
        *("scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"),
    ]


def to_vertex_array(g: Gaussians) -> np.ndarray:
    """The structured float32 array of one `vertex` element (the exact bytes of the file body)."""
    n, k = len(g), g.sh.shape[1]
    vertex = np.zeros(n, dtype=[(name, "<f4") for name in property_names(g.degree)])
    for i, axis in enumerate("xyz"):
        vertex[axis] = g.means[:, i]
    sh = np.asarray(g.sh, dtype=np.float32)
    for c in range(3):
        vertex[f"f_dc_{c}"] = sh[:, 0, c]
        for j in range(k - 1):
            vertex[f"f_rest_{c * (k - 1) + j}"] = sh[:, 1 + j, c]
    vertex["opacity"] = np.asarray(g.opacities).reshape(n)
    for i in range(3):
        vertex[f"scale_{i}"] = g.scales[:, i]
    for i in range(4):
        vertex[f"rot_{i}"] = g.quats[:, i]
    return vertex


def write_ply(path: str | Path, g: Gaussians) -> Path:
    """Write `g` as a binary little-endian 3DGS `.ply` and return the path."""
    path = Path(path)
    element = PlyElement.describe(to_vertex_array(g), "vertex")
    PlyData([element], text=False, byte_order="<").write(str(path))
    return path


def read_ply(path: str | Path) -> Gaussians:
    """Read a 3DGS `.ply` (any property order, extra properties ignored) as float32 `Gaussians`.

    Raises ValueError naming what is missing, so a wrong file fails with a message instead of a KeyError.
    """
    ply = PlyData.read(str(path))
    if "vertex" not in ply:
        raise ValueError(f"{path}: no 'vertex' element; not a Gaussian splat .ply")
    vertex = ply["vertex"].data
    names = set(vertex.dtype.names or ())
    required = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", *property_names(0)[-7:]]
    missing = [name for name in required if name not in names]
    if missing:
        raise ValueError(f"{path}: not a 3DGS splat .ply, missing properties {', '.join(missing)}")
    rest = 0
    while f"f_rest_{rest}" in names:
        rest += 1
    if rest % 3:
        raise ValueError(f"{path}: {rest} f_rest properties is not a multiple of 3")
    k = rest // 3 + 1
    sh_degree(k)  # a layout that is not degree 0..3 is refused here, with the count in the message

    def column(name: str) -> np.ndarray:
        # A field of the structured array is a strided view; copy it so consumers get plain contiguous
        # arrays (torch's CPU kernels round differently on strided input: renders differed by 1 ulp).
        return np.ascontiguousarray(vertex[name], dtype=np.float32)

    sh = np.empty((len(vertex), k, 3), dtype=np.float32)
    for c in range(3):
        sh[:, 0, c] = column(f"f_dc_{c}")
        for j in range(k - 1):
            sh[:, 1 + j, c] = column(f"f_rest_{c * (k - 1) + j}")
    return Gaussians(
        means=np.stack([column(a) for a in "xyz"], axis=1),
        scales=np.stack([column(f"scale_{i}") for i in range(3)], axis=1),
        quats=np.stack([column(f"rot_{i}") for i in range(4)], axis=1),
        opacities=column("opacity"),
        sh=sh,
    )
