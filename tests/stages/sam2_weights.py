"""Writes stand-in SAM 2 and detector weights, run by the SAM 2 venv's Python (not a test module).

    python tests/stages/sam2_weights.py <folder> <person|no-person>

* sam2.1_hiera_tiny.pt: SAM 2.1 built from the package's smallest config (configs/sam2.1/sam2.1_hiera_t.yaml)
  with seeded random weights, saved as Meta's checkpoints are ({"model": state_dict}), so the stage's
  loader (sam2.build_sam) reads it exactly as it reads the released file. Masks from it are meaningless:
  mask quality needs the released weights, which cannot be downloaded here.
* fasterrcnn_resnet50_fpn_coco-258fb6c6.pth: torchvision's COCO Faster R-CNN with seeded random weights and
  the class head's bias set so that every proposal is a confident "person" (`person`), or "background"
  (`no-person`): the detector code runs for real, and the test chooses which prompt the stage must take.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from sam2.build_sam import build_sam2
from torchvision.models.detection import fasterrcnn_resnet50_fpn


def main(folder: Path, person: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu")
    torch.save({"model": model.state_dict()}, folder / "sam2.1_hiera_tiny.pt")

    detector = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    with torch.no_grad():
        head = detector.roi_heads.box_predictor
        head.cls_score.weight.zero_()
        head.cls_score.bias.fill_(-20.0)
        head.cls_score.bias[1 if person else 0] = 20.0  # COCO label 1 = person, 0 = background
        head.bbox_pred.weight.zero_()  # boxes are the proposals themselves
        head.bbox_pred.bias.zero_()
    torch.save(detector.state_dict(), folder / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] == "person")
