"""Write the sparse model where the splat stage reads it: binary for tools, text for people."""

from __future__ import annotations

from pathlib import Path

import pycolmap

from gs_stages.layout import SPARSE_DIR


def write_sparse_model(model: pycolmap.Reconstruction, output: Path) -> Path:
    """`<output>/sparse/0/{cameras,images,points3D}.bin` and the same as `.txt`; returns the folder."""
    folder = Path(output) / SPARSE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*"):
        if stale.is_file():
            stale.unlink()
    model.write_binary(folder)
    model.write_text(folder)
    return folder
