"""lund: a street walk (forward motion) with GPS in every photo's EXIF: spatial matching pairs images by
their GPS positions, and the global mapper poses the walk (incremental COLMAP finds no initial pair)."""

from __future__ import annotations

from pathlib import Path

from .jobs import make_spec
from .sfm_fixtures import DATA, run_sparse, sparse_model, write_frames


def test_gps_spatial_matching_and_global_mapping(tmp_path: Path) -> None:
    files = sorted((DATA / "lund" / "images").glob("*.jpg"))
    write_frames(tmp_path / "frames", [(p, f"lund/images/{p.name}") for p in files], max_side=640)
    spec = make_spec(**{"sfm.matchingMethod": "spatial", "sfm.softwareName": "glomap"})
    metrics = run_sparse(spec, tmp_path / "frames", tmp_path / "out")
    assert metrics["input_images"] == 29
    assert metrics["registered_images"] >= 25
    assert metrics["points3d"] >= 300 and metrics["mean_reprojection_error_px"] < 2.0
    # Spatial pairs come from GPS neighbours, far fewer than all 406 pairs.
    assert 0 < metrics["verified_pairs"] < 406
    assert sparse_model(tmp_path / "out").num_reg_images() == metrics["registered_images"]
