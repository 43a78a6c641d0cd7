"""Poses from the images alone: SIFT features, matching by the job's method, then the incremental
(`colmap`) or global (`glomap`) mapper; the largest model found is kept. Before the global mapper,
cameras without a known focal length start from one estimated from the matches (see focal.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pycolmap

from gs_stages.layout import FramesInput
from gs_stages.quality_checks import registration_bar
from gs_stages.reporter import reporter
from gs_stages.sfm.database import count_verified_pairs
from gs_stages.sfm.features import CameraSetup, extract_features
from gs_stages.sfm.focal import initialise_focal_lengths
from gs_stages.sfm.inputs import feature_masks
from gs_stages.sfm.log_progress import colmap_progress, images_extracted, images_matched
from gs_stages.sfm.mapping import map_poses
from gs_stages.sfm.matching import match_features, vocab_tree_for
from gs_stages.sfm.metrics import require_registered
from gs_stages.sfm.settings import SfmSettings
from gs_stages.sfm.spherical import apply_view_rig, view_camera, view_of_images
from gs_stages.stage import StageContext
from gs_stages.step_timer import StepTimer


def from_images(
    ctx: StageContext, frames: FramesInput, settings: SfmSettings, workdir: Path, timer: StepTimer
) -> tuple[pycolmap.Reconstruction, dict[str, Any]]:
    """Full SfM; fails with advice when too few images register (see metrics.require_registered)."""
    sfm = ctx.spec.sfm
    vocab_tree = vocab_tree_for(sfm.matching_method, settings, workdir, ctx.log)
    media_kind = frames.manifest.media_kind if frames.manifest is not None else "archive"
    database = workdir / "database.db"
    total = len(frames.names)
    # 360° input: the views' camera and their rotations within a frame are exact (see spherical.py).
    views = view_of_images(frames.names) if ctx.spec.spherical_camera.enable else None
    camera = (
        view_camera(frames.image_dir, frames.names)
        if views is not None
        else CameraSetup.for_frames(frames.image_dir, frames.names, media_kind, settings.camera_model)
    )
    ctx.log.info("sfm: camera model %s (%s)", camera.model, "360 views" if views is not None else "sfm/lens.py")
    features = ctx.tracker("features", total)
    features.update(0)
    with timer.step("features"):
        with colmap_progress(features, images_extracted):
            extract_features(
                database,
                frames.image_dir,
                frames.names,
                camera,
                sfm.enhanced_features,
                settings,
                ctx.log,
                feature_masks(ctx),
            )
        rig_cameras = apply_view_rig(database, views, ctx.log) if views is not None else 0
    features.update(total, last=True)
    matching = ctx.tracker(f"{sfm.matching_method} matching", total)
    matching.update(0)
    with timer.step("matching"), colmap_progress(matching, images_matched(total)):
        match_features(database, sfm.matching_method, settings, ctx.log, vocab_tree)
    matching.update(total, {"verified pairs": count_verified_pairs(database)}, last=True)
    with timer.step("mapping"):
        # The global mapper, unlike the incremental one, cannot recover from a focal length far off.
        estimate_focals = sfm.software_name == "glomap" and views is None
        initial_focals = initialise_focal_lengths(database, ctx.log) if estimate_focals else {}
        models = map_poses(
            database,
            frames.image_dir,
            workdir / "models",
            sfm.software_name,
            settings,
            total,
            ctx.log,
            known_cameras=views is not None,
            tracker=ctx.tracker("mapping", total, eta=False),  # registrations come in bursts
        )
    # The registered_ratio check decides under Dagster; outside it the stage holds the default bar.
    min_ratio = registration_bar(reporter().requested_checks("sparse_model"))
    if not models:
        require_registered(0, total, min_ratio)
    model = models[0]
    if len(models) > 1:
        ctx.log.warning(
            "the mapper found %d separate models (%s images); keeping the largest as sparse/0",
            len(models),
            ", ".join(str(m.num_reg_images()) for m in models),
        )
    require_registered(model.num_reg_images(), total, min_ratio)
    return model, {
        "pose_source": "sfm",
        "mapper": sfm.software_name,
        "matching_method": sfm.matching_method,
        "verified_pairs": count_verified_pairs(database),
        "models_found": len(models),
        "other_models_images": [m.num_reg_images() for m in models[1:]],
        # Per camera whose first focal length came from the matches: [COLMAP's guess, estimate] in px.
        "initial_focal_px": {str(c): [round(g, 1), round(f, 1)] for c, (g, f) in initial_focals.items()},
        # 360° input: cameras of the view rig (0 otherwise) and 360° frames with a pose.
        "rig_cameras": rig_cameras,
        "registered_frames": model.num_reg_frames(),
    }
