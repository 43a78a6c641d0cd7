"""Reads what the nerfacto path wrote with nerfstudio's own code, run by nerfstudio's venv (not a test module).

    python tests/stages/nerfstudio_probe.py split <data folder>   nerfstudio's colmap dataparser on it
    python tests/stages/nerfstudio_probe.py glb <file.glb>        trimesh (nerfstudio's dependency) on it
Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def split(data: Path) -> dict:
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    masks = (data / "masks").is_dir()
    parser = ColmapDataParserConfig(
        data=data, colmap_path=Path("colmap/sparse/0"), masks_path=Path("masks") if masks else None
    ).setup()
    found = {}
    for name in ("train", "val", "test"):
        outputs = parser.get_dataparser_outputs(split=name)
        found[name] = {
            "images": [p.name for p in outputs.image_filenames],
            "masks": [p.name for p in outputs.mask_filenames or []],
            "cameras": int(outputs.cameras.shape[0]),
            "width": int(outputs.cameras.width[0]),
        }
    return found


def glb(path: Path) -> dict:
    import trimesh

    mesh = trimesh.load(path, force="mesh")
    material = getattr(mesh.visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    return {
        "vertices": len(mesh.vertices),
        "faces": len(mesh.faces),
        "uv": None if getattr(mesh.visual, "uv", None) is None else len(mesh.visual.uv),
        "texture": None if image is None else list(image.size),
    }


if __name__ == "__main__":
    command, target = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(split(target) if command == "split" else glb(target)))
