"""The newest AWS guidance's job JSON, read as our job document.

The AWS guidance (aws-solutions-library-samples/guidance-for-open-source-3d-reconstruction-toolbox-for-
gaussian-splats-on-aws at commit 10eb6d1: UNDERSTANDING_CONFIGURATION.md and the workflow_trigger Lambda)
reworked the reference's job JSON: `sfm` became `reconstruction`, background and human removal moved under
`segmentation.backgroundRemoval` / `objectRemoval`, `filterBlurryImages` moved to `videoProcessing`, and
new keys came (`postProcessing.*`, `training.numGaussians`, video start/stop times, `useSpotInstance`, ...).

`translate` turns such a document into ours, key by key, so one model (`jobspec.JobSpec`) validates both
forms. A newer key we run maps onto our option; a newer key we do not run is accepted at its "off" value
and refused with its reason otherwise (the same rule as `capabilities`: never substitute silently); those
keys and their rules are the table in `job_guidance_keys.py`.
Problems are named with the paths the user wrote (`reconstruction.matchingMethod`, not `sfm...`).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gs_stages.job_guidance_keys import COORDINATES, NOT_RUN, UNAVAILABLE_MODELS, NotRun, choice
from gs_stages.job_values import loose_bool

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
            choice(*COORDINATES)(post.pop("sogCoords"))
        except ValueError as exc:
            problems.append(("postProcessing.sogCoords", str(exc)))
    given = {key: post.pop(key) for key in keys if key in post}
    for key, value in given.items():
        try:
            axes = choice(*COORDINATES)(value)
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
        action = choice("erase", "remove")(removal.get("action", "remove"))
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
