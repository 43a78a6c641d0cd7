#!/usr/bin/env python3
"""Each photo's exposure from the sparse model alone, no training: how far held-out photos sit from the mean.

A 3D point seen in several photos has one colour; what differs between its observations is each photo's
exposure. Least squares on log brightness (log pixel = log exposure of the photo + log colour of the
point, alternating over the two) gives every photo's exposure in stops, up to one shared constant,
fixed here by a mean of 0. The held-out split is the splat stage's (every `--test-every`-th photo by
name). Prints each photo's stops and, for the held-out ones, the distance to the training photos' mean
(what a neutral appearance must miss) and to their neighbours' (what view-dependent colour can follow).

    PYTHONPATH=.:container python bench/exposure_tracks.py --frames F --sparse S
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pycolmap
from PIL import Image


def exposures(frames: Path, sparse: Path, min_track: int = 3) -> tuple[list[str], np.ndarray]:
    """(photo names in name order, exposure in stops with mean 0)."""
    model = pycolmap.Reconstruction(str(sparse / "sparse" / "0"))
    images = sorted(model.images.values(), key=lambda im: im.name)
    index = {im.image_id: k for k, im in enumerate(images)}
    pixels = {im.image_id: np.asarray(Image.open(frames / "images" / im.name).convert("RGB")) for im in images}
    rows, points, values = [], [], []
    for number, (_, point) in enumerate(model.points3D.items()):
        if point.track.length() < min_track:
            continue
        for element in point.track.elements:
            x, y = (int(v) for v in model.images[element.image_id].points2D[element.point2D_idx].xy)
            image = pixels[element.image_id]
            if 0 <= y < image.shape[0] and 0 <= x < image.shape[1]:
                brightness = image[y, x].mean() / 255.0
                if 0.05 < brightness < 0.95:  # clipped pixels say nothing about exposure
                    rows.append(index[element.image_id]), points.append(number), values.append(np.log(brightness))
    row, point, value = np.array(rows), np.array(points), np.array(values)
    n_images, n_points = len(images), int(point.max()) + 1
    exposure = np.zeros(n_images)
    for _ in range(50):
        colour = np.bincount(point, value - exposure[row], n_points) / np.maximum(np.bincount(point, None, n_points), 1)
        exposure = np.bincount(row, value - colour[point], n_images) / np.maximum(np.bincount(row, None, n_images), 1)
        exposure -= exposure.mean()
    return [im.name for im in images], exposure / np.log(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=Path, required=True)
    parser.add_argument("--sparse", type=Path, required=True)
    parser.add_argument("--test-every", type=int, default=8)
    args = parser.parse_args()
    names, stops = exposures(args.frames, args.sparse)
    held = [k for k in range(len(names)) if k % args.test_every == 0]
    train_mean = np.delete(stops, held).mean()
    for k, name in enumerate(names):
        print(f"{name} {'held-out' if k in held else '        '} {stops[k]:+.3f}")
    to_mean = np.abs(stops[held] - train_mean)
    neighbours = [np.mean([stops[j] for j in (k - 1, k + 1) if 0 <= j < len(names)]) for k in held]
    to_neighbours = np.abs(stops[held] - np.array(neighbours))
    print(f"spread {np.ptp(stops):.3f} stops; held-out to the training mean: mean {to_mean.mean():.3f}, ", end="")
    print(f"max {to_mean.max():.3f}; to neighbours: mean {to_neighbours.mean():.3f}, max {to_neighbours.max():.3f}")


if __name__ == "__main__":
    main()
