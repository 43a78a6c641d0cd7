"""Poses from the job's pose priors: a COLMAP model used as given, or transforms.json poses kept
while points are triangulated from matched features (training starts from those points)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pycolmap

from gs_stages.layout import PRIORS_DIR, TRANSFORMS_JSON, FramesInput
from gs_stages.priors.colmap_model import load_colmap_prior
from gs_stages.priors.conventions import camera_centre
from gs_stages.priors.transforms_json import load_transforms_priors
from gs_stages.quality_checks import MIN_REGISTERED_IMAGES
from gs_stages.sfm.database import count_matched_keypoints, set_intrinsics, write_position_priors
from gs_stages.sfm.features import CameraSetup, extract_features
from gs_stages.sfm.inputs import feature_masks, require_manifest
from gs_stages.sfm.log_progress import colmap_progress, images_extracted, images_matched
from gs_stages.sfm.mapping import triangulate_known_poses
from gs_stages.sfm.matching import match_features, vocab_tree_for
from gs_stages.sfm.settings import SfmSettings
from gs_stages.stage import StageContext, StageError
from gs_stages.step_timer import StepTimer

#: Prior poses that fit the images turn most matched features into points (57-80% on the fox
#: capture); the same matrices read in a wrong convention reach 3-6%. Below 15% the job is refused.
_MIN_TRIANGULATED_SHARE = 0.15
_MIN_TRIANGULATED_POINTS = 10


def from_colmap_model(
    ctx: StageContext, frames: FramesInput, timer: StepTimer
) -> tuple[pycolmap.Reconstruction, dict[str, Any]]:
    """The zip's model, renamed and rescaled; nothing is re-estimated."""
    manifest = require_manifest(frames, "COLMAP model")
    if not ctx.spec.sfm.enable:
        ctx.log.info("sfm.enable is false: using the COLMAP model from the zip as given")
    with timer.step("priors"):
        prior = load_colmap_prior(ctx.input("frames") / PRIORS_DIR, manifest, ctx.log)
    ctx.log.info(
        "priors: COLMAP model with %d registered images, %d points, used as given",
        prior.reconstruction.num_reg_images(),
        prior.reconstruction.num_points3D(),
    )
    if prior.reconstruction.num_reg_images() < MIN_REGISTERED_IMAGES:
        raise StageError(
            f"the COLMAP model poses only {prior.reconstruction.num_reg_images()} of the uploaded images",
            hint=f"a model needs at least {MIN_REGISTERED_IMAGES} posed images; upload the images it was made from",
        )
    return prior.reconstruction, {
        "pose_source": "colmap_model",
        "prior_images_listed": prior.listed,
        "prior_images_missing": len(prior.missing),
        "frames_without_pose": len(prior.unposed),
    }


def from_transforms(
    ctx: StageContext, frames: FramesInput, settings: SfmSettings, workdir: Path, timer: StepTimer
) -> tuple[pycolmap.Reconstruction, dict[str, Any]]:
    """transforms.json poses and intrinsics held fixed; points triangulated from matched SIFT features.

    Refused when the poses cannot explain the matches (almost always a wrong convention or direction).
    """
    manifest = require_manifest(frames, "transforms.json")
    sfm = ctx.spec.sfm
    options = sfm.pose_priors.transform_json
    path = ctx.input("frames") / PRIORS_DIR / TRANSFORMS_JSON
    if not path.is_file():
        raise StageError(
            "the job uses transforms.json pose priors, but the frames stage found none in the zip",
            hint="put transforms.json next to images/ in the zip, or turn usePosePriorTransformJson off",
        )
    vocab_tree = vocab_tree_for(sfm.matching_method, settings, workdir, ctx.log)
    with timer.step("priors"):
        priors = load_transforms_priors(
            path, manifest, options.source_coordinate_name, options.pose_is_world_to_cam, ctx.log
        )
    if len(priors.frames) < MIN_REGISTERED_IMAGES:
        raise StageError(
            f"transforms.json gives a pose to only {len(priors.frames)} of the uploaded images",
            hint="file_path in transforms.json must name the images in the zip (with or without extension)",
        )
    ctx.log.info(
        "priors: %d poses from transforms.json (%s camera axes, %s) kept as given%s",
        len(priors.frames),
        options.source_coordinate_name,
        "world-to-camera" if options.pose_is_world_to_cam else "camera-to-world",
        "" if sfm.enable else "; sfm.enable is false, so only points are triangulated",
    )
    names = [f.name for f in priors.frames]
    intrinsics = {f.name: f.intrinsics for f in priors.frames}
    distinct = set(intrinsics.values())
    if len(distinct) == 1:
        model_name, params = next(iter(distinct)).colmap()
        camera = CameraSetup(pycolmap.CameraMode.SINGLE, model_name, tuple(params))
    else:
        camera = CameraSetup(pycolmap.CameraMode.PER_IMAGE)
    database = workdir / "database.db"
    features = ctx.tracker("features", len(names))
    features.update(0)
    with timer.step("features"):
        with colmap_progress(features, images_extracted):
            extract_features(
                database,
                frames.image_dir,
                names,
                camera,
                sfm.enhanced_features,
                settings,
                ctx.log,
                feature_masks(ctx),
            )
        if len(distinct) > 1:
            set_intrinsics(database, intrinsics)
        write_position_priors(database, {f.name: camera_centre(f.cam_from_world) for f in priors.frames})
    features.update(len(names), last=True)
    matching = ctx.tracker(f"{sfm.matching_method} matching", len(names))
    matching.update(0)
    with timer.step("matching"), colmap_progress(matching, images_matched(len(names))):
        match_features(database, sfm.matching_method, settings, ctx.log, vocab_tree)
    matching.update(len(names), last=True)
    with timer.step("triangulation"):
        model = triangulate_known_poses(database, frames.image_dir, workdir / "triangulated", priors.frames, settings)
    matched = count_matched_keypoints(database)
    share = model.compute_num_observations() / matched if matched else 0.0
    if model.num_points3D() < _MIN_TRIANGULATED_POINTS or share < _MIN_TRIANGULATED_SHARE:
        raise StageError(
            f"the transforms.json poses do not fit the images: {model.num_points3D()} points triangulated, "
            f"using {share:.0%} of the {matched} matched features (right poses use well over half)",
            hint="check usePosePriorTransformJson.sourceCoordinateName (arkit, arcore, opengl, opencv, ros) "
            "and poseIsWorldToCam (false when transform_matrix is camera-to-world, as in NeRFCapture and "
            "instant-ngp)",
        )
    return model, {
        "pose_source": "transforms_json",
        "matching_method": sfm.matching_method,
        "prior_images_listed": priors.listed,
        "prior_images_missing": len(priors.missing),
        "frames_without_pose": len(priors.unposed),
        "triangulated_share": round(share, 4),
    }
