"""The sparse_model stage: poses and a sparse point cloud for the frames, as COLMAP `sparse/0`.

Where the poses come from (the job's sfm.posePriors decide; the frames stage copied the priors):
- a COLMAP model in the zip: used as given, renamed to the frames' names, scaled to their size;
- a transforms.json: its poses are kept (converted to COLMAP's convention), features are matched
  and points triangulated with the poses held fixed;
- neither: SfM, i.e. SIFT features, matching (sfm.matchingMethod) and the incremental (`colmap`) or
  global (`glomap`) mapper.
sfm.enable=false only makes sense with priors, and then changes nothing: a COLMAP model is used as
given either way, and a transforms.json still gets triangulated points, because training starts
from them. Priors are never re-estimated.

Success rule: SfM must register at least 3 images and at least half of the input
(engine setting sfm_min_registered_ratio); if the mapper finds several models the largest becomes
sparse/0 and the metrics say how many were found. With priors, at least 3 frames need a pose.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycolmap

from gs_stages.layout import (
    IMAGES_DIR,
    MANIFEST,
    MASKS_DIR,
    MASKS_JSON,
    PRIORS_DIR,
    TRANSFORMS_JSON,
    FramesManifest,
)
from gs_stages.priors.colmap_model import load_colmap_prior
from gs_stages.priors.conventions import camera_centre
from gs_stages.priors.transforms_json import load_transforms_priors
from gs_stages.sfm.database import (
    count_matched_keypoints,
    count_verified_pairs,
    set_intrinsics,
    write_position_priors,
)
from gs_stages.sfm.features import CameraSetup, extract_features
from gs_stages.sfm.mapping import map_poses, triangulate_known_poses
from gs_stages.sfm.matching import match_features, resolve_vocab_tree
from gs_stages.sfm.metrics import MIN_REGISTERED_IMAGES, StepTimer, model_metrics, require_registered
from gs_stages.sfm.model_io import write_sparse_model
from gs_stages.sfm.settings import SfmSettings
from gs_stages.stage import StageContext, StageError

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Prior poses that fit the images turn most matched features into points (57-80% on the fox
#: capture); the same matrices read in a wrong convention reach 3-6%. Below 15% the job is refused.
_MIN_TRIANGULATED_SHARE = 0.15
_MIN_TRIANGULATED_POINTS = 10


@dataclass
class FramesInput:
    image_dir: Path
    names: list[str]
    manifest: FramesManifest | None


def _frames_input(frames_dir: Path) -> FramesInput:
    image_dir = frames_dir / IMAGES_DIR
    manifest = FramesManifest.read(frames_dir) if (frames_dir / MANIFEST).is_file() else None
    if manifest is not None:
        names = [f.name for f in manifest.frames]
        absent = [n for n in names if not (image_dir / n).is_file()]
        if absent:
            raise StageError(
                f"the frames manifest lists {len(absent)} image(s) missing from {image_dir}: "
                f"{', '.join(absent[:5])}",
                hint="run the frames stage again; its output is incomplete",
            )
    else:
        names = sorted(p.name for p in image_dir.glob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not names:
        raise StageError(f"no images in {image_dir}", hint="run the frames stage first; it writes images/")
    return FramesInput(image_dir, names, manifest)


def _mask_dir(ctx: StageContext) -> Path | None:
    masks = ctx.optional_input("masks")
    if masks is None or not (masks / MASKS_JSON).is_file():
        return None
    enabled = json.loads((masks / MASKS_JSON).read_text()).get("enabled", False)
    return masks / MASKS_DIR if enabled and (masks / MASKS_DIR).is_dir() else None


@contextmanager
def _colmap_log_level(log: logging.Logger) -> Iterator[None]:
    """COLMAP's own log (glog) shows warnings only, unless the job logs at debug."""
    previous = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 0 if log.isEnabledFor(logging.DEBUG) else 1
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = previous


def _needs_manifest(frames: FramesInput, what: str) -> FramesManifest:
    if frames.manifest is None:
        raise StageError(
            f"{what} pose priors need the frames manifest ({MANIFEST}) to map image names, and it is missing",
            hint="run the frames stage again on the zip",
        )
    return frames.manifest


def _from_colmap_model(
    ctx: StageContext, frames: FramesInput, timer: StepTimer
) -> tuple[pycolmap.Reconstruction, dict[str, Any]]:
    manifest = _needs_manifest(frames, "COLMAP model")
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
            hint=f"a model needs at least {MIN_REGISTERED_IMAGES} posed images; "
            "upload the images it was made from",
        )
    return prior.reconstruction, {
        "pose_source": "colmap_model",
        "prior_images_listed": prior.listed,
        "prior_images_missing": len(prior.missing),
        "frames_without_pose": len(prior.unposed),
    }


def _from_transforms(
    ctx: StageContext, frames: FramesInput, settings: SfmSettings, workdir: Path, timer: StepTimer
) -> tuple[pycolmap.Reconstruction, dict[str, Any]]:
    manifest = _needs_manifest(frames, "transforms.json")
    sfm = ctx.spec.sfm
    options = sfm.pose_priors.transform_json
    path = ctx.input("frames") / PRIORS_DIR / TRANSFORMS_JSON
    if not path.is_file():
        raise StageError(
            "the job uses transforms.json pose priors, but the frames stage found none in the zip",
            hint="put transforms.json next to images/ in the zip, or turn usePosePriorTransformJson off",
        )
    vocab_tree = _vocab_tree(sfm.matching_method, settings, workdir, ctx.log)
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
    with timer.step("features"):
        extract_features(
            database,
            frames.image_dir,
            names,
            camera,
            sfm.enhanced_features,
            settings,
            ctx.log,
            _mask_dir(ctx),
        )
        if len(distinct) > 1:
            set_intrinsics(database, intrinsics)
        write_position_priors(database, {f.name: camera_centre(f.cam_from_world) for f in priors.frames})
    with timer.step("matching"):
        match_features(database, sfm.matching_method, settings, ctx.log, vocab_tree)
    with timer.step("triangulation"):
        model = triangulate_known_poses(
            database, frames.image_dir, workdir / "triangulated", priors.frames, settings
        )
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


def _vocab_tree(method: str, settings: SfmSettings, workdir: Path, log: logging.Logger) -> Path | None:
    """Resolved before any work, so a missing tree fails in a second, not after feature extraction."""
    if method == "vocab" or (method == "sequential" and settings.vocab_tree_path):
        return resolve_vocab_tree(settings.vocab_tree_path, workdir, log)
    return None


def _from_sfm(
    ctx: StageContext, frames: FramesInput, settings: SfmSettings, workdir: Path, timer: StepTimer
) -> tuple[pycolmap.Reconstruction, dict[str, Any]]:
    sfm = ctx.spec.sfm
    vocab_tree = _vocab_tree(sfm.matching_method, settings, workdir, ctx.log)
    media_kind = frames.manifest.media_kind if frames.manifest is not None else "archive"
    database = workdir / "database.db"
    total = len(frames.names)
    with timer.step("features"):
        extract_features(
            database,
            frames.image_dir,
            frames.names,
            CameraSetup.for_frames(frames.image_dir, frames.names, media_kind),
            sfm.enhanced_features,
            settings,
            ctx.log,
            _mask_dir(ctx),
        )
    with timer.step("matching"):
        match_features(database, sfm.matching_method, settings, ctx.log, vocab_tree)
    with timer.step("mapping"):
        models = map_poses(
            database, frames.image_dir, workdir / "models", sfm.software_name, settings, total, ctx.log
        )
    if not models:
        require_registered(0, total, settings.min_registered_ratio)
    model = models[0]
    if len(models) > 1:
        ctx.log.warning(
            "the mapper found %d separate models (%s images); keeping the largest as sparse/0",
            len(models),
            ", ".join(str(m.num_reg_images()) for m in models),
        )
    require_registered(model.num_reg_images(), total, settings.min_registered_ratio)
    return model, {
        "pose_source": "sfm",
        "mapper": sfm.software_name,
        "matching_method": sfm.matching_method,
        "verified_pairs": count_verified_pairs(database),
        "models_found": len(models),
        "other_models_images": [m.num_reg_images() for m in models[1:]],
    }


def run(ctx: StageContext) -> dict[str, Any]:
    sfm = ctx.spec.sfm
    priors = sfm.pose_priors
    settings = SfmSettings.from_settings(ctx.settings)
    frames = _frames_input(ctx.input("frames"))
    timer = StepTimer()
    ctx.output.mkdir(parents=True, exist_ok=True)
    with _colmap_log_level(ctx.log), tempfile.TemporaryDirectory(dir=ctx.output, prefix=".sfm-") as scratch:
        workdir = Path(scratch)
        if priors.use_colmap_model_files:
            model, details = _from_colmap_model(ctx, frames, timer)
        elif priors.transform_json.enable:
            model, details = _from_transforms(ctx, frames, settings, workdir, timer)
        else:
            model, details = _from_sfm(ctx, frames, settings, workdir, timer)
        with timer.step("write"):
            write_sparse_model(model, ctx.output)
    metrics: dict[str, Any] = {"input_images": len(frames.names), **model_metrics(model), **details}
    metrics["enhanced_features"] = sfm.enhanced_features
    metrics["timings_s"] = timer.seconds
    ctx.log.info(
        "sparse model: %d of %d images, %d points, mean reprojection error %s px",
        metrics["registered_images"],
        metrics["input_images"],
        metrics["points3d"],
        metrics["mean_reprojection_error_px"],
    )
    return metrics
