"""The AWS guidance's newer job keys that ask for what this build does not run, and the rule for each.

Why apart from `job_guidance.py`: the translation is mechanics (renames, nesting), this is a decision table
that grows with every new guidance release: each key's values that are accepted ("off", or any value where
the key matters only together with a refused one), and otherwise why it is refused and what to write instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gs_stages.job_values import loose_bool, loose_float

COORDINATES = ("rhyu", "lhyu", "rhzu", "lhzu")
UNAVAILABLE_MODELS = {
    "dn-splatter": "needs dn-splatter's depth and normal priors (ZoeDepth, a normal estimator), not shipped",
    "ags-mesh": "builds on dn-splatter (depth and normal priors, mesh extraction), not shipped",
    "gsplat-depth": "is gsplat's simple_trainer with a sparse depth loss, not shipped",
}


@dataclass(frozen=True)
class NotRun:
    """A newer key whose `off` values are accepted and whose other values ask for what we do not run."""

    parse: Callable[[Any], Any]
    off: tuple[Any, ...]
    reason: str
    instead: str


def choice(*allowed: str) -> Callable[[Any], Any]:
    """A parser of one of `allowed` (any case), returned as spelled there."""

    def parse(value: Any) -> Any:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in {a.lower() for a in allowed}:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {json.dumps(value)}")
        return next(a for a in allowed if a.lower() == text)

    return parse


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {json.dumps(value)}")
    return value


_ANY_BOOL, _ANY_NUMBER, _ANY_TEXT = (loose_bool, None), (loose_float, None), (_text, None)
OFF = (False,)
#: The newer keys that choose things this build does not do. `off=None`: every valid value is accepted
#: (a setting that only matters when an option refused here is on).
NOT_RUN: dict[str, NotRun | tuple[Callable[[Any], Any], None]] = {
    "imageProcessing.autoScaleDataset": NotRun(
        loose_bool, OFF, "fitting the dataset to GPU memory is not in this build", "false; cap frames with maxNumImages"
    ),
    "imageProcessing.autoScaleDatasetMode": (choice("RESIZE", "DROPOUT"), None),
    "imageProcessing.autoGroupImages": NotRun(
        loose_bool, OFF, "picking images by file-name prefix is not in this build", "false; zip one camera's images"
    ),
    "imageProcessing.autoGroupTargetName": _ANY_TEXT,
    "reconstruction.enableFlHeuristic": NotRun(
        loose_bool, OFF, "a focal length from a heuristic is not in this build (SfM calibrates it)", "false"
    ),
    "reconstruction.flHeuristicValue": _ANY_NUMBER,
    "reconstruction.enableFlMetric": NotRun(
        loose_bool, OFF, "a fixed focal length is not in this build (SfM calibrates it)", "false"
    ),
    "reconstruction.flMetricValue": _ANY_NUMBER,
    "reconstruction.autoMatcher": NotRun(
        loose_bool, OFF, "choosing the matcher from image overlap is not in this build", "false; set matchingMethod"
    ),
    "reconstruction.autoMapper": NotRun(
        loose_bool, OFF, "choosing the mapper from the image count is not in this build", "false; set softwareName"
    ),
    "training.3dIsp": NotRun(
        choice("none", "bilagrid", "ppisp"),
        ("none",),
        "bilateral-grid and PPISP image processing are not in this build",
        '"none", or training.model splatfacto-w-light (a colour transform per image)',
    ),
    "training.enableAbsGrad": NotRun(
        loose_bool,
        (True,),
        "this build's splatfacto always densifies on absolute gradients (nerfstudio's use_absgrad)",
        "true, or leave it out",
    ),
    "training.enableDepthLoss": NotRun(loose_bool, OFF, "depth supervision is not in this build", "false"),
    "training.enhanceDepth": NotRun(loose_bool, OFF, "PromptDA depth enhancement is not in this build", "false"),
    # The splat is always delivered in the SfM model's own units: what true asks for; false rescales nothing.
    "training.preserveSceneScale": _ANY_BOOL,
    "postProcessing.enableSpz": NotRun(
        loose_bool, (True,), "the .spz is always delivered (a job is delivered once it reads back)", "true"
    ),
    "postProcessing.enableUsdz": NotRun(loose_bool, OFF, ".usdz export is not in this build", "false"),
    "postProcessing.generateCollision": NotRun(loose_bool, OFF, "collision meshes are not in this build", "false"),
    "postProcessing.collisionSceneType": (choice("indoor", "outdoor", "object"), None),
    "postProcessing.collisionSeedPos": _ANY_TEXT,
    "postProcessing.generateLod": NotRun(loose_bool, OFF, "streamed LOD bundles are not in this build", "false"),
    # Only for dn-splatter and ags-mesh models, which are refused here anyway: either value changes nothing.
    "postProcessing.generateMesh": _ANY_BOOL,
    "postProcessing.extractMeshGs": NotRun(loose_bool, OFF, "mesh extraction is not in this build", "false"),
    "postProcessing.usdzCoords": (choice(*COORDINATES), None),
}
