"""Run by 3DGRUT's Python (test_grt_adapter.py), 3DGRUT's own code on what gs_stages.grt wrote. One JSON line.

grt_probe.py dataset DATA DOWNSAMPLE_FACTOR TEST_SPLIT_INTERVAL
    its ColmapDataset, per split: the image names (relative to its images folder, in its order), how
    many masks it found, the first image's size
grt_probe.py runner REQUEST_JSON
    grt_run.py's `compose` (hydra over 3DGRUT's configs) of the stage's request, the values it resolved,
    and the held-out views grt_run.py reports (its `make_test` dataset)
"""

import json
import os
import sys
from pathlib import Path

from PIL import Image


def dataset(data: str, factor: int, interval: int) -> dict:
    from threedgrut.datasets.dataset_colmap import ColmapDataset

    found = {}
    for split in ("train", "test"):
        dataset = ColmapDataset(data, device="cpu", split=split, downsample_factor=factor, test_split_interval=interval)
        folder = os.path.join(data, dataset.get_images_folder())
        with Image.open(dataset.image_paths[0]) as image:
            size = list(image.size)
        found[split] = {
            "names": [os.path.relpath(p, folder) for p in dataset.image_paths],
            "masks": sum(os.path.exists(p) for p in dataset.mask_paths),
            "size": size,
        }
    return found


def runner(request_path: str) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "container" / "gs_stages" / "grt"))
    import grt_run
    from omegaconf import OmegaConf

    conf = grt_run.compose(json.loads(Path(request_path).read_text()))
    keys = [
        *("path", "n_iterations", "dataset.test_split_interval", "dataset.downsample_factor", "dataset.load_exif"),
        *("render.method", "render.particle_kernel_degree", "export_ply.enabled", "export_ply.path"),
        *("checkpoint.iterations", "test_last", "seed_initialization", "model.background.color", "out_dir"),
    ]
    resolved = {k: OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(conf, k)}))["v"] for k in keys}
    return {"resolved": resolved, "held_out": grt_run._held_out_views(conf)}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = dataset(args[0], int(args[1]), int(args[2])) if command == "dataset" else runner(args[0])
    print(json.dumps(result))
