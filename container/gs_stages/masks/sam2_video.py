"""SAM 2 background removal, run by the Python that has `sam2` (its own venv locally, the image's on GPU).

The masks stage (`sam2_masks.py`) starts this file as a script with one request JSON; it imports nothing
from gs_stages (the SAM 2 venv has torch, torchvision, sam2, numpy and Pillow, not our stage stack).

What it does, as the reference toolbox's SAM 2 path does:
* the job's frames in capture order form the video (a photo zip's too): SAM 2's video predictor reads a
  folder of `<index>.jpg`, so the frames are written there first;
* the first frame's prompt is the highest-scoring person box of a torchvision Faster R-CNN (COCO label 1,
  score >= `person_score`), or, with no person found, five positive points at the frame's centre;
* the predictor propagates that object's mask over every frame; per frame the mask logits are min-max
  normalised to 0..1 and the object is where they exceed `threshold` (segmentation.maskThreshold);
* `<output>/<stem>.png`: 255 = object, 0 = background, at each frame's own size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

#: COCO's category id of "person" in torchvision's detection models.
PERSON_LABEL = 1
#: The centre prompt: the centre and four points an eighth of the frame away from it, all "object".
CENTRE_OFFSETS = ((0.0, 0.0), (-0.125, 0.0), (0.125, 0.0), (0.0, -0.125), (0.0, 0.125))


def pick_device(wanted: str) -> torch.device:
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(wanted)


def person_box(detector_path: Path, rgb: np.ndarray, min_score: float, device: torch.device) -> dict[str, Any] | None:
    """The best person box [x0, y0, x1, y1] in pixels on `rgb`, with its score, or None."""
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    detector = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    detector.load_state_dict(torch.load(detector_path, map_location="cpu", weights_only=True))
    detector.eval().to(device)
    image = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255.0).to(device)
    with torch.inference_mode():
        (found,) = detector([image])
    keep = (found["labels"] == PERSON_LABEL) & (found["scores"] >= min_score)
    if not bool(keep.any()):
        return None
    scores = found["scores"][keep]
    best = int(torch.argmax(scores))
    box = found["boxes"][keep][best].cpu().tolist()
    return {"kind": "person_box", "box": [round(v, 2) for v in box], "score": round(float(scores[best]), 4)}


def centre_points(width: int, height: int) -> dict[str, Any]:
    points = [[width * (0.5 + dx), height * (0.5 + dy)] for dx, dy in CENTRE_OFFSETS]
    return {"kind": "centre_points", "points": points, "labels": [1] * len(points)}


def normalised(logits: np.ndarray) -> np.ndarray:
    """Min-max over the frame, as the reference does before its threshold; a flat map is all zero."""
    low, high = float(logits.min()), float(logits.max())
    if high - low < 1e-12:
        return np.zeros_like(logits, dtype=np.float32)
    return ((logits - low) / (high - low)).astype(np.float32)


def segment(request: dict[str, Any]) -> dict[str, Any]:
    from sam2.build_sam import build_sam2_video_predictor

    frames = [Path(p) for p in request["frames"]]
    output = Path(request["output"])
    threshold = float(request["threshold"])
    device = pick_device(request.get("device", "auto"))
    started = time.perf_counter()
    predictor = build_sam2_video_predictor(request["config"], request["checkpoint"], device=str(device))
    first = np.asarray(Image.open(frames[0]).convert("RGB"))
    prompt = person_box(Path(request["detector"]), first, float(request["person_score"]), device)
    if prompt is None:
        prompt = centre_points(first.shape[1], first.shape[0])

    output.mkdir(parents=True, exist_ok=True)
    records: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gs-sam2-video-") as video:
        for index, path in enumerate(frames):
            Image.open(path).convert("RGB").save(Path(video) / f"{index:05d}.jpg", quality=95)
        state = predictor.init_state(video_path=video, offload_video_to_cpu=device.type == "cpu")
        if prompt["kind"] == "person_box":
            predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=np.array(prompt["box"], np.float32))
        else:
            points, labels = np.array(prompt["points"], np.float32), np.array(prompt["labels"], np.int32)
            predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=points, labels=labels)
        with torch.inference_mode():
            for index, _, logits in predictor.propagate_in_video(state):
                path = frames[index]
                mask = normalised(logits[0, 0].float().cpu().numpy()) > threshold
                image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))
                size = Image.open(path).size
                if image.size != size:  # a photo zip's frames may differ in size from the first
                    image = image.resize(size, Image.NEAREST)
                image.save(output / (path.stem + ".png"))
                kept = np.asarray(image) > 0
                records[index] = {"name": path.name, "mask": path.stem + ".png", "object_fraction": float(kept.mean())}
                print(f"sam2: frame {len(records)}/{len(frames)}", file=sys.stderr, flush=True)
    missing = [frames[i].name for i in range(len(frames)) if i not in records]
    if missing:
        raise RuntimeError(f"SAM 2 gave no mask for {len(missing)} frame(s): {missing[:5]}")
    return {
        "prompt": prompt,
        "device": device.type,
        "seconds": round(time.perf_counter() - started, 3),
        "per_frame": [records[i] for i in range(len(frames))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("request", type=Path, help="request JSON (gs_stages/masks/sam2_masks.py writes it)")
    parser.add_argument("result", type=Path, help="where the result JSON goes")
    args = parser.parse_args(argv)
    result = segment(json.loads(args.request.read_text()))
    args.result.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
