"""Run by 3DGRUT's Python (test_grt_adapter.py), 3DGRUT's own code on what gs_stages.grt wrote. One JSON line.

grt_probe.py dataset DATA DOWNSAMPLE_FACTOR TEST_SPLIT_INTERVAL
    its ColmapDataset, per split: the image names (relative to its images folder, in its order), how
    many masks it found, the first image's size, each camera's centre in the world it trains in, and that
    world's normalization
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
            "centres": dataset.get_poses()[:, :3, 3].tolist(),  # camera-to-world: its translation is the centre
            "normalization": dataset.get_world_normalization_transform().tolist(),
        }
    return found


def runner(request_path: str) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "container" / "gs_stages" / "grt"))
    import grt_run
    from omegaconf import OmegaConf

    conf = grt_run.compose(json.loads(Path(request_path).read_text()))
    keys = [
        *("path", "n_iterations", "dataset.test_split_interval", "dataset.downsample_factor", "dataset.load_exif"),
        *("render.method", "render.particle_kernel_degree", "render.primitive_type"),
        *("export_ply.enabled", "export_ply.path"),
        *("checkpoint.iterations", "test_last", "seed_initialization", "model.background.color", "out_dir"),
    ]
    resolved = {k: OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(conf, k)}))["v"] for k in keys}
    return {"resolved": resolved, "held_out": grt_run._held_out_views(conf), "primitive_types": _primitive_types()}


def _primitive_types() -> list[str]:
    """The primitive names 3DGRT's C++ tracer recognises (any other name silently becomes `instances`)."""
    import re

    import threedgrt_tracer

    source = (Path(threedgrt_tracer.__file__).parent / "src" / "optixTracer.cpp").read_text()
    return re.findall(r'primitiveTypeStr == "(\w+)"', source)


def ply(out_ply: str, out_npz: str) -> dict:
    import numpy as np
    from threedgrut.export.accessor import GaussianAttributes
    from threedgrut.export.formats.ply import PLYExporter

    rng = np.random.default_rng(0)
    n = 40
    attrs = GaussianAttributes(
        positions=rng.normal(size=(n, 3)).astype(np.float32),
        rotations=rng.normal(size=(n, 4)).astype(np.float32),  # w x y z, unnormalised (pre-activation)
        scales=(rng.normal(size=(n, 3)) - 3).astype(np.float32),  # log scales
        densities=rng.normal(size=(n, 1)).astype(np.float32),  # logit opacity
        albedo=rng.normal(size=(n, 3)).astype(np.float32),
        specular=rng.normal(size=(n, 45)).astype(np.float32),  # its model's features_specular layout
    )
    attrs.positions[7, 0] = np.nan
    PLYExporter._write_ply(attrs, Path(out_ply))
    np.savez(
        out_npz,
        **{k: getattr(attrs, k) for k in ("positions", "rotations", "scales", "densities", "albedo", "specular")},
    )
    return {"written": n}


def lpips() -> dict:
    """Runs each LPIPS import line of 3DGRUT's trainer.py and render.py (which need CUDA extensions and
    torchvision to import whole) after the switch, and calls what it gets."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "container" / "gs_stages" / "grt"))
    import tempfile

    import grt_run
    import threedgrut
    import torch

    reason = grt_run._lpips_backbone(None, Path(tempfile.mkdtemp()))
    found = {"reason": reason}
    for name in ("trainer.py", "render.py"):
        source = (Path(threedgrut.__file__).parent / name).read_text().splitlines()
        (line,) = [x for x in source if x.startswith("from") and "LearnedPerceptualImagePatchSimilarity" in x]
        namespace: dict = {}
        exec(line, namespace)
        metric = namespace["LearnedPerceptualImagePatchSimilarity"](net_type="vgg", normalize=True)
        value = metric(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
        found[name] = {"import": line, "class": type(metric).__name__, "nan": bool(torch.isnan(value))}
    return found


def prebuilt(*requests: str) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "container" / "gs_stages" / "grt"))
    import tempfile

    import grt_run
    import threedgrt_tracer

    built = json.loads((Path(grt_run.__file__).with_name("tracer_config.json")).read_text())
    package = Path(tempfile.mkdtemp())
    threedgrt_tracer.__file__ = str(package / "__init__.py")  # where the image puts lib3dgrt_cc.so
    (package / "lib3dgrt_cc.render.json").write_text(json.dumps(grt_run._tracer_settings(grt_run.compose(built))))
    found = {}
    for path in requests:
        try:
            grt_run._check_prebuilt(grt_run.compose(json.loads(Path(path).read_text())))
            found[path] = None
        except SystemExit as exc:
            found[path] = str(exc)
    return found


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    commands = {"dataset": lambda: dataset(args[0], int(args[1]), int(args[2])), "runner": lambda: runner(args[0])}
    commands |= {"ply": lambda: ply(args[0], args[1]), "lpips": lpips, "prebuilt": lambda: prebuilt(*args)}
    print(json.dumps(commands[command]()))
