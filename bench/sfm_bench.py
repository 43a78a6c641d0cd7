"""Time each sub-step of the sparse_model stage (features, matching, mapping or triangulation, write)
on kermit and fox from the shared test data, on this machine, and print a Markdown table.

Each case builds a frames directory the way the frames stage would (downscaled images/, manifest.json,
priors/ when used) in a temporary folder, then runs the stage in-process through the CLI runner. For
fox without priors the SfM camera centres are also compared with the capture's transforms.json after a
similarity alignment (median error as a share of the scene extent).

    .venv/bin/python bench/sfm_bench.py [--data /work/shared/data] [--fox-side 960] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import pycolmap

from gs_stages.cli import run_stage
from gs_stages.jobspec import parse_job
from gs_stages.layout import PRIORS_DIR, TRANSFORMS_JSON, FrameRecord, FramesManifest
from gs_stages.priors.transforms_json import load_transforms_priors
from gs_stages.sfm.alignment import align_centres, model_centres, prior_centres

PRIORS = "sfm.posePriors.usePosePriorTransformJson"


@dataclass
class Case:
    name: str
    dataset: str  # kermit or fox
    options: dict[str, Any]
    with_priors: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "kermit exhaustive + colmap",
        "kermit",
        {"sfm.matchingMethod": "exhaustive", "sfm.softwareName": "colmap"},
    ),
    Case(
        "kermit sequential + glomap",
        "kermit",
        {"sfm.matchingMethod": "sequential", "sfm.softwareName": "glomap"},
    ),
    Case(
        "kermit exhaustive + colmap, enhanced SIFT",
        "kermit",
        {
            "sfm.matchingMethod": "exhaustive",
            "sfm.softwareName": "colmap",
            "sfm.enableEnhancedFeatureExtraction": True,
        },
    ),
    Case("fox sequential + colmap", "fox", {"sfm.matchingMethod": "sequential", "sfm.softwareName": "colmap"}),
    Case("fox sequential + glomap", "fox", {"sfm.matchingMethod": "sequential", "sfm.softwareName": "glomap"}),
    Case(
        "fox transforms.json priors, sequential + triangulation",
        "fox",
        {
            "sfm.matchingMethod": "sequential",
            f"{PRIORS}.enable": True,
            f"{PRIORS}.sourceCoordinateName": "opengl",
            f"{PRIORS}.poseIsWorldToCam": False,
        },
        with_priors=True,
    ),
]


def _frames(data: Path, dataset: str, target: Path, max_side: int, with_priors: bool) -> FramesManifest:
    """Downscaled images/ and manifest.json as the frames stage writes them (+ priors/transforms.json)."""
    if dataset == "kermit":
        files, prefix = sorted((data / "kermit").glob("*.jpg")), "kermit"
    else:
        files, prefix = sorted((data / "fox" / "images").glob("*.jpg")), "fox/images"
    (target / "images").mkdir(parents=True)
    records = []
    for index, path in enumerate(files):
        image = cv2.imread(str(path))
        height, width = image.shape[:2]
        scale = min(1.0, max_side / max(height, width))
        size = (round(width * scale), round(height * scale))
        if scale < 1.0:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        name = f"{index:06d}.jpg"
        cv2.imwrite(str(target / "images" / name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        records.append(FrameRecord(name, f"{prefix}/{path.name}", *size, width, height, sharpness=0.0))
    manifest = FramesManifest("archive", f"{dataset}.zip", records, priors_source="fox/transforms.json")
    if with_priors:
        manifest.priors = "transforms_json"
        (target / PRIORS_DIR).mkdir()
        shutil.copyfile(data / "fox" / TRANSFORMS_JSON, target / PRIORS_DIR / TRANSFORMS_JSON)
    manifest.write(target)
    return manifest


def _pose_error(data: Path, manifest: FramesManifest, output: Path) -> float:
    """Median camera-centre error after a Sim3 alignment to transforms.json, as a share of scene extent."""
    priors = load_transforms_priors(data / "fox" / TRANSFORMS_JSON, manifest, "opengl", False, logging.getLogger())
    reference = prior_centres({f.name: f.cam_from_world for f in priors.frames})
    model = pycolmap.Reconstruction(output / "sparse" / "0")
    return align_centres(model_centres(model), reference).median_relative_error


def run_case(case: Case, data: Path, fox_side: int, scratch: Path) -> dict[str, Any]:
    side = 640 if case.dataset == "kermit" else fox_side
    frames = scratch / "frames"
    manifest = _frames(data, case.dataset, frames, side, case.with_priors)
    spec = parse_job({"uuid": "sfm-bench", "s3": {"bucketName": "bench", "inputKey": "media.zip"}})
    spec = spec.with_overrides(case.options)
    started = time.perf_counter()
    metrics = run_stage("sparse_model", spec, {"frames": frames}, scratch / "out", case.settings)
    wall = time.perf_counter() - started
    row = {
        "case": case.name,
        "image_size": f"{manifest.frames[0].width}x{manifest.frames[0].height}",
        "registered": f"{metrics['registered_images']}/{metrics['input_images']}",
        "points3d": metrics["points3d"],
        "reprojection_px": metrics["mean_reprojection_error_px"],
        "track_length": metrics["mean_track_length"],
        "timings_s": metrics["timings_s"],
        "wall_s": round(wall, 1),
    }
    if case.dataset == "fox" and not case.with_priors:
        row["centre_error_of_extent"] = _pose_error(data, manifest, scratch / "out")
    return row


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | images | registered | points | reproj. px | track | features s | matching s "
        "| mapping / triangulation s | stage s | centre error (median, % extent) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["timings_s"]
        solve = t.get("mapping", t.get("triangulation", 0.0))
        error = f"{100 * r['centre_error_of_extent']:.2f}" if "centre_error_of_extent" in r else "-"
        lines.append(
            f"| {r['case']} | {r['image_size']} | {r['registered']} | {r['points3d']} "
            f"| {r['reprojection_px']} "
            f"| {r['track_length']} | {t.get('features', 0):.1f} | {t.get('matching', 0):.1f} | {solve:.1f} "
            f"| {r['wall_s']:.1f} | {error} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--fox-side", type=int, default=960, help="longest side of the fox frames (px)")
    parser.add_argument("--only", default="", help="run the cases whose name contains this text")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    load_before = os.getloadavg()
    rows = []
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        with tempfile.TemporaryDirectory(prefix="sfm-bench-") as scratch:
            rows.append(run_case(case, args.data, args.fox_side, Path(scratch)))
        print(json.dumps(rows[-1]), flush=True)
    header = (
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, pycolmap {pycolmap.__version__}; "
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    print(header)
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": header, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
