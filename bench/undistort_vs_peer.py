#!/usr/bin/env python3
"""Do our undistorted views cover the same pixels as the peer's? (issue #5: same resolution for both)

Loads a COLMAP scene with gsplat v1.5.3's own loader (`examples/datasets/colmap.py`, the Parser that
simple_trainer uses, from the git-ignored .peer/ folder) and with our `load_scene`, and prints how many
images have the same size, the largest intrinsics difference, and the PSNR between the two
undistorted versions of the first three images. CPU only; needs scipy and imageio importable (e.g.
`pip install --target /tmp/pyextra scipy imageio`, put on PYTHONPATH), the peer's fork of pycolmap
is imported the way bench/peer_trainer.py does.

    PYTHONPATH=container:/tmp/pyextra .venv/bin/python bench/undistort_vs_peer.py SCENE crop|colmap
"""

import sys
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from peer_trainer import import_pycolmap_fork  # noqa: E402

import_pycolmap_fork(REPO / ".peer" / "pycolmap-cc7ea4b")
sys.path.insert(0, str(REPO / ".peer" / "gsplat-v1.5.3" / "examples"))
from datasets.colmap import Parser  # noqa: E402

scene = sys.argv[1]
parser = Parser(data_dir=scene, factor=1, normalize=False, test_every=8)
for mod in [m for m in sys.modules if m == "pycolmap" or m.startswith("pycolmap.")]:
    del sys.modules[mod]
sys.path = [p for p in sys.path if "pycolmap-cc7ea4b" not in p]
sys.path.insert(0, str(REPO / "container"))
from gs_stages.splat.scene import load_scene  # noqa: E402

ours = load_scene(scene, scene, None, downscale=1, test_every=8, undistort=sys.argv[2])
by = {v.name: v for v in ours.views}
worst_k, same = 0.0, 0
for i, name in enumerate(parser.image_names):
    cid = parser.camera_ids[i]
    K = parser.Ks_dict[cid]
    w, h = parser.imsize_dict[cid]
    v = by[name]
    same += (v.width, v.height) == (w, h)
    worst_k = max(worst_k, float(np.abs(v.K.numpy() - K).max()))
print(
    f"{Path(scene).name} undistort={sys.argv[2]}: {same}/{len(parser.image_names)} images of the peer's size; "
    f"max |K ours - K peer| = {worst_k:.3f} px"
)
diffs = []
for i in (0, 1, 2):
    name, cid = parser.image_names[i], parser.camera_ids[i]
    img = imageio.imread(parser.image_paths[i])[..., :3]
    if cid in parser.mapx_dict:
        img = cv2.remap(img, parser.mapx_dict[cid], parser.mapy_dict[cid], cv2.INTER_LINEAR)
        x, y, w, h = parser.roi_undist_dict[cid]
        img = img[y : y + h, x : x + w]
    ours_img = by[name].image.numpy().astype(np.float64)
    if ours_img.shape != img.shape:
        diffs.append(f"{name}: shapes {ours_img.shape} vs {img.shape}")
        continue
    mse = ((ours_img - img.astype(np.float64)) ** 2).mean()
    diffs.append(f"{name}: PSNR(ours vs peer pixels) {10 * np.log10(255**2 / mse):.1f} dB")
print("; ".join(diffs))
