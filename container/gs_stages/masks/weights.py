"""Where the segmentation models' weights come from: a folder or an s3:// prefix, never the internet.

The U^2-Net ONNX files, the SAM 2 checkpoint and the person detector SAM 2 is prompted with are not
shipped with the image and are never downloaded from a model hub at run time (reproducible runs, no
network in SageMaker's VPC mode). The operator puts them in one folder or S3 prefix and names it with the
engine setting `segmentation_weights` (`--setting`, or `GS_STAGE_SETTINGS`) or the environment variable
`GS_SEGMENTATION_WEIGHTS`; the setting wins. Which SAM 2 checkpoint: the engine setting `sam2_model`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gs_stages import s3_files
from gs_stages.capabilities import HUMAN_MODEL
from gs_stages.jobspec import JobSpec
from gs_stages.stage import StageError

WEIGHTS_SETTING = "segmentation_weights"
WEIGHTS_ENV = "GS_SEGMENTATION_WEIGHTS"
#: The file each U^2-Net model needs in that folder/prefix (the names its ONNX exports are known by).
WEIGHT_FILES: dict[str, str] = {"u2net": "u2net.onnx", "u2net-human": "u2net_human_seg.onnx"}
SAM2_SETTING = "sam2_model"
#: SAM 2.1's checkpoints by the names Meta publishes them under, with the package's config for each.
SAM2_MODELS: dict[str, tuple[str, str]] = {
    "tiny": ("sam2.1_hiera_tiny.pt", "configs/sam2.1/sam2.1_hiera_t.yaml"),
    "small": ("sam2.1_hiera_small.pt", "configs/sam2.1/sam2.1_hiera_s.yaml"),
    "base_plus": ("sam2.1_hiera_base_plus.pt", "configs/sam2.1/sam2.1_hiera_b+.yaml"),
    "large": ("sam2.1_hiera_large.pt", "configs/sam2.1/sam2.1_hiera_l.yaml"),
}
SAM2_DEFAULT = "large"  # the reference's
#: torchvision's COCO Faster R-CNN (ResNet-50 FPN) state dict, under the name torchvision publishes it.
DETECTOR_FILE = "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
WHAT_FILE: dict[str, str] = {
    "u2net.onnx": "the U^2-Net ONNX export",
    "u2net_human_seg.onnx": "the U^2-Net ONNX export",
    DETECTOR_FILE: "torchvision's COCO Faster R-CNN ResNet-50 FPN weights",
    **{file: "Meta's SAM 2.1 checkpoint" for file, _ in SAM2_MODELS.values()},
}


def sam2_model(settings: Mapping[str, Any]) -> tuple[str, str]:
    """(checkpoint file, config name) of the SAM 2.1 size the engine setting `sam2_model` names."""
    size = str(settings.get(SAM2_SETTING) or SAM2_DEFAULT)
    if size not in SAM2_MODELS:
        raise StageError(
            f"engine setting {SAM2_SETTING}={size!r} is not a SAM 2.1 model",
            hint=f"use one of {', '.join(SAM2_MODELS)} (default {SAM2_DEFAULT})",
        )
    return SAM2_MODELS[size]


def model_files(model: str, settings: Mapping[str, Any]) -> list[str]:
    """The weight files `model` needs: SAM 2 needs its checkpoint and the person detector."""
    if model == "sam2":
        return [sam2_model(settings)[0], DETECTOR_FILE]
    return [WEIGHT_FILES[model]]


def _hint(file: str) -> str:
    return (
        f"put {file} ({WHAT_FILE.get(file, 'the weights file')}) in a folder or under an s3://bucket/prefix "
        "and name it with the "
        f"engine setting {WEIGHTS_SETTING} (--setting {WEIGHTS_SETTING}=..., or GS_STAGE_SETTINGS) or the "
        f"environment variable {WEIGHTS_ENV}; weights are never downloaded at run time. "
        "Or set segmentation.removeBackground and segmentation.removeHumanSubject to false"
    )


def _missing(what: str, file: str, where: str) -> str:
    return f"{what} needs the weights file {file}, expected at {where}, and it is not there"


def wanted_models(spec: JobSpec) -> list[tuple[str, str]]:
    """(model, the feature that needs it, as errors name it) for each network the job's masks need."""
    seg = spec.segmentation
    wanted = []
    if seg.remove_background:
        model = seg.background_removal_model
        wanted.append((model, f"background removal ({model})"))
    if seg.remove_human_subject:
        wanted.append((HUMAN_MODEL, f"human subject removal ({HUMAN_MODEL})"))
    return wanted


def check_configured(spec: JobSpec, settings: Mapping[str, Any]) -> None:
    """Refuse, before a chain's first stage, a job whose masks need weights that are not configured (or
    not in the configured local folder): otherwise frames runs first and the job fails minutes later.
    An s3:// location is only checked when the masks stage downloads from it."""
    location = weights_location(settings)
    if location is not None and location.startswith("s3://"):
        return
    for model, what in wanted_models(spec):
        try:
            for file in model_files(model, settings):
                resolve_file(file, what, settings, Path(), logging.getLogger(__name__))  # local: no download
        except StageError as exc:
            exc.stage = "masks"
            raise


def weights_location(settings: Mapping[str, Any]) -> str | None:
    """The configured folder or s3:// prefix: the engine setting, else the environment variable."""
    value = str(settings.get(WEIGHTS_SETTING) or os.environ.get(WEIGHTS_ENV) or "").strip()
    return value or None


def resolve_weights(
    model: str, what: str, settings: Mapping[str, Any], workdir: Path, log: logging.Logger
) -> tuple[Path, str]:
    """(local file, where it came from) of `model`'s weights; s3:// files are downloaded into `workdir`.

    `what` names the feature in the error ("background removal (u2net)"), so the user knows which option
    needs the file.
    """
    return resolve_file(WEIGHT_FILES[model], what, settings, workdir, log)


def resolve_file(
    file: str, what: str, settings: Mapping[str, Any], workdir: Path, log: logging.Logger
) -> tuple[Path, str]:
    """(local file, where it came from) of one weights file in the configured folder or s3:// prefix."""
    location = weights_location(settings)
    if location is None:
        raise StageError(f"{what} needs the weights file {file}, and no weights location is configured", _hint(file))
    if location.startswith("s3://"):
        uri = location.rstrip("/") + "/" + file
        return _download(uri, workdir / file, what, file, log), uri
    path = Path(location).expanduser() / file
    if not path.is_file():
        raise StageError(_missing(what, file, str(path)), _hint(file))
    return path, str(path)


def _download(uri: str, target: Path, what: str, file: str, log: logging.Logger) -> Path:
    if not s3_files.split_uri(uri)[0]:
        raise StageError(f"{uri} is not an s3://bucket/prefix location", _hint(file))
    log.info("masks: downloading %s", uri)
    try:
        return s3_files.download(uri, target)
    except s3_files.S3FileError as exc:
        if exc.missing:
            raise StageError(_missing(what, file, uri), _hint(file)) from None
        raise StageError(f"{what}: cannot download the weights file {uri}: {exc}", _hint(file)) from None
