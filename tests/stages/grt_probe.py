"""Run by 3DGRUT's Python (test_grt_adapter.py): its own ColmapDataset reads a folder gs_stages.grt wrote.

grt_probe.py DATA DOWNSAMPLE_FACTOR TEST_SPLIT_INTERVAL  ->  one JSON line: per split, the image
names (relative to its images folder, in its order), how many masks it found, the first image's size
"""

import json
import os
import sys

from PIL import Image
from threedgrut.datasets.dataset_colmap import ColmapDataset


def main() -> None:
    data, factor, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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
    print(json.dumps(found))


if __name__ == "__main__":
    main()
