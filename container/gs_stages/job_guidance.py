"""The newest AWS guidance's job JSON, read as our job document.

The AWS guidance (aws-solutions-library-samples/guidance-for-open-source-3d-reconstruction-toolbox-for-
gaussian-splats-on-aws at commit 10eb6d1: UNDERSTANDING_CONFIGURATION.md and the workflow_trigger Lambda)
reworked the reference's job JSON: `sfm` became `reconstruction`, background and human removal moved under
`segmentation.backgroundRemoval` / `objectRemoval`, `filterBlurryImages` moved to `videoProcessing`, and
new keys came (`postProcessing.*`, `training.numGaussians`, video start/stop times, `useSpotInstance`, ...).

`translate` turns such a document into ours, key by key, so one model (`jobspec.JobSpec`) validates both
forms. A newer key we run maps onto our option; a newer key we do not run is accepted at its "off" value
and refused with its reason otherwise (the same rule as `capabilities`: never substitute silently).
Problems are named with the paths the user wrote (`reconstruction.matchingMethod`, not `sfm...`).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gs_stages.job_values import loose_bool, loose_float

#: Our path -> the newer form's path, for naming problems (longest prefixes first).
RENAMED: dict[str, str] = {
    "imageProcessing.filterBlurryImages": "videoProcessing.filterBlurryImages",
    "segmentation.removeBackground": "segmentation.backgroundRemoval.enable",
    "segmentation.backgroundRemovalModel": "segmentation.backgroundRemoval.model",
    "segmentation.maskThreshold": "segmentation.backgroundRemoval.maskThreshold",
    "segmentation.removeHumanSubject": "segmentation.objectRemoval",
    "training.rotateSplat": "postProcessing.plyCoords",
    "sfm": "reconstruction",
}

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


def _choice(*allowed: str) -> Callable[[Any], Any]:
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
    "imageProcessing.autoScaleDatasetMode": (_choice("RESIZE", "DROPOUT"), None),
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
        _choice("none", "bilagrid", "ppisp"),
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
    "postProcessing.collisionSceneType": (_choice("indoor", "outdoor", "object"), None),
    "postProcessing.collisionSeedPos": _ANY_TEXT,
    "postProcessing.generateLod": NotRun(loose_bool, OFF, "streamed LOD bundles are not in this build", "false"),
    # Only for dn-splatter and ags-mesh models, which are refused here anyway: either value changes nothing.
    "postProcessing.generateMesh": _ANY_BOOL,
    "postProcessing.extractMeshGs": NotRun(loose_bool, OFF, "mesh extraction is not in this build", "false"),
    "postProcessing.usdzCoords": (_choice(*COORDINATES), None),
}


@dataclass
class Translation:
    document: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)


def is_guidance_form(data: Mapping[str, Any]) -> bool:
    """A document in the newer form: it has `reconstruction`, or the nested segmentation (`useSpotInstance`,
    `postProcessing` and the new training and video keys are keys of our form too)."""
    segmentation = data.get("segmentation")
    nested = isinstance(segmentation, Mapping) and ({"backgroundRemoval", "objectRemoval"} & set(segmentation))
    return "reconstruction" in data or bool(nested)


def guidance_path(path: str) -> str:
    """Our JSON path as the newer form writes it (problems are named in the user's terms)."""
    for ours, theirs in RENAMED.items():
        if path == ours or path.startswith(ours + "."):
            return theirs + path[len(ours) :]
    return path


def translate(data: Mapping[str, Any]) -> Translation:
    """The document in our form, and every problem of the newer keys (refused options, wrong values)."""
    doc: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    out = Translation(doc)
    if "sfm" in doc:
        form = "this document is in the newer AWS form (it has 'reconstruction' or 'segmentation.backgroundRemoval' "
        form += "or 'objectRemoval'), which names this section 'reconstruction'"
        out.problems.append(("sfm", f"{form}: use one form"))
    for path, rule in NOT_RUN.items():
        _not_run(doc, path, rule, out.problems)
    if isinstance(doc.get("reconstruction"), dict):
        software = doc["reconstruction"].get("softwareName")
        if software == "hloc":
            doc["reconstruction"].pop("softwareName")
            out.problems.append(
                ("reconstruction.softwareName", "hloc is not in this build (what to try: colmap, glomap)")
            )
        doc["sfm"] = doc.pop("reconstruction")
    _training(doc, out.problems)
    _video(doc)
    _coordinates(doc, out.problems)
    _segmentation(doc, out.problems)
    return out


def _section(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = doc.get(name)
    return value if isinstance(value, dict) else None  # not an object: the model names it


def _not_run(doc: dict[str, Any], path: str, rule: Any, problems: list[tuple[str, str]]) -> None:
    *parents, key = path.split(".")
    node = doc if not parents else _section(doc, parents[0])
    if node is None or key not in node:
        return
    value = node.pop(key)
    parse = rule.parse if isinstance(rule, NotRun) else rule[0]
    try:
        parsed = parse(value)
    except ValueError as exc:
        problems.append((path, str(exc)))
        return
    if isinstance(rule, NotRun) and parsed not in rule.off:
        problems.append((path, f"{json.dumps(value)} is not available: {rule.reason} (what to try: {rule.instead})"))


def _training(doc: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    training = _section(doc, "training")
    model = training.get("model") if training else None
    if training is not None and isinstance(model, str) and model.strip() in UNAVAILABLE_MODELS:
        training.pop("model")
        why = UNAVAILABLE_MODELS[model.strip()]
        instead = "splatfacto, splatfacto-big, splatfacto-mcmc or splatfacto-w-light"
        problems.append(
            ("training.model", f"{model} is not available in this build: it {why} (what to try: {instead})")
        )


def _video(doc: dict[str, Any]) -> None:
    video = _section(doc, "videoProcessing")
    if video is not None and "filterBlurryImages" in video:
        image = doc.setdefault("imageProcessing", {})
        if isinstance(image, dict):
            image["filterBlurryImages"] = video.pop("filterBlurryImages")


def _coordinates(doc: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    """plyCoords / spzCoords / sogCoords: rhyu (right-handed, y up) is our rotateSplat; one splat is written to
    every file (the .sog is converted from the .ply). sogCoords binds only while the .sog is written."""
    post = _section(doc, "postProcessing")
    if post is None:
        return
    keys = ["plyCoords", "spzCoords", "sogCoords"]
    if "sogCoords" in post and _is_false(post.get("enableSog", True)):
        keys.remove("sogCoords")  # no .sog is written: checked, unused
        try:
            _choice(*COORDINATES)(post.pop("sogCoords"))
        except ValueError as exc:
            problems.append(("postProcessing.sogCoords", str(exc)))
    given = {key: post.pop(key) for key in keys if key in post}
    for key, value in given.items():
        try:
            axes = _choice(*COORDINATES)(value)
        except ValueError as exc:
            problems.append((f"postProcessing.{key}", str(exc)))
            continue
        if axes != "rhyu":
            why = "this build writes the .ply, .spz and .sog in right-handed y-up axes only"
            problems.append((f"postProcessing.{key}", f'"{axes}" is not available: {why} (what to try: rhyu)'))
    if given:
        doc.setdefault("training", {})
        if isinstance(doc["training"], dict):
            doc["training"]["rotateSplat"] = True


def _is_false(value: Any) -> bool:
    """A valid false (a value that is not true or false is named by the model, not here)."""
    try:
        return loose_bool(value) is False
    except ValueError:
        return False


def _segmentation(doc: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    seg = _section(doc, "segmentation")
    if seg is None:
        return
    for ours in ("removeBackground", "backgroundRemovalModel", "maskThreshold", "removeHumanSubject"):
        if ours in seg:
            seg.pop(ours)
            where = guidance_path(f"segmentation.{ours}")
            problems.append((f"segmentation.{ours}", f"the newer AWS form sets this in {where}: use one form"))
    background = seg.pop("backgroundRemoval", None)
    if background is not None:
        if not isinstance(background, Mapping):
            problems.append(("segmentation.backgroundRemoval", "expected an object with enable, model, maskThreshold"))
        else:
            keys = {"enable": "removeBackground", "model": "backgroundRemovalModel", "maskThreshold": "maskThreshold"}
            for key, value in background.items():
                if key in keys:
                    seg[keys[key]] = value
                else:
                    problems.append((f"segmentation.backgroundRemoval.{key}", f"unknown key {key!r}"))
    removal = seg.pop("objectRemoval", None)
    if removal is not None:
        _object_removal(removal, seg, problems)


def _object_removal(removal: Any, seg: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    """enable + action "remove" + objects ['human'] is our removeHumanSubject; erasing (inpainting) is not run."""
    path = "segmentation.objectRemoval"
    if not isinstance(removal, Mapping):
        problems.append((path, "expected an object with enable, action, objects"))
        return
    for key in set(removal) - {"enable", "action", "objects"}:
        problems.append((f"{path}.{key}", f"unknown key {key!r}"))
    try:
        enable = loose_bool(removal.get("enable", False))
        action = _choice("erase", "remove")(removal.get("action", "remove"))
        objects = _object_list(removal.get("objects", ["human"]))
    except ValueError as exc:
        problems.append((path, str(exc)))
        return
    if enable and action == "erase":
        instead = '"remove", which leaves its pixels out of training'
        why = '"erase" (inpainting the object away) is not available in this build'
        problems.append((f"{path}.action", f"{why} (what to try: {instead})"))
    if enable and set(objects) - {"human"}:
        others = ", ".join(sorted(set(objects) - {"human"}))
        problems.append((f"{path}.objects", f"only human can be removed in this build, not {others}"))
    seg["removeHumanSubject"] = enable


def _object_list(value: Any) -> list[str]:
    """A list of object names, or a string holding one ("['human']", as the guidance's UI writes it)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip()) if value.strip() else []
        except (ValueError, SyntaxError):
            raise ValueError(f"objects: expected a list such as \"['human']\", got {json.dumps(value)}") from None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'objects: expected a list of names such as ["human"], got {json.dumps(value)}')
    return [v.strip().lower() for v in value if v.strip()]
