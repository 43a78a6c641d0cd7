"""U^2-Net (Qin et al. 2020) saliency through onnxruntime: one frame in, a 0..1 map of "the object" out.

`u2net` (general salient object) and `u2net-human` (people) are the same network with different weights.
Per frame, U^2-Net's own preprocessing: RGB scaled to 0..1, resized to the network's input size (read
from the ONNX graph: 320x320 for the published exports), normalised with the ImageNet mean and standard
deviation, NCHW. Of the seven outputs the first is the fused map (the side outputs are for deep
supervision); it is min-max normalised per frame, as U^2-Net's reference inference does, and resized
back to the frame's size. The caller thresholds it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gs_stages.stage import StageError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
#: Input side when the graph leaves height/width symbolic (U^2-Net was trained at 320x320).
DEFAULT_SIDE = 320


class SaliencyModel:
    """One U^2-Net ONNX file loaded into an onnxruntime session (CUDA when onnxruntime has it)."""

    def __init__(self, path: Path, label: str, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise StageError(
                "segmentation needs onnxruntime, which is not installed",
                hint="install the stage package with its engine extra: pip install './container[engine]'",
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, every core
        options.log_severity_level = 3  # errors only: the CPU provider's fallback notes are noise
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own pybind types (InvalidProtobuf, Fail, ...)
            raise StageError(
                f"cannot load the {label} weights {path}: {exc}",
                hint="the file must be U^2-Net's ONNX export (one 1x3xHxW input, the fused saliency map first)",
            ) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(shape) != 4 or shape[1] not in (3, "3") or not outputs:
            raise StageError(
                f"the {label} weights {path} do not look like U^2-Net: inputs "
                f"{[(i.name, i.shape) for i in inputs]}, {len(outputs)} output(s)",
                hint="use U^2-Net's ONNX export: one 1x3xHxW image input, saliency maps out",
            )
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name  # the fused map
        self.height, self.width = (d if isinstance(d, int) and d > 0 else DEFAULT_SIDE for d in shape[2:])
        self.label = label

    def saliency(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 in 0..1 at the frame's size from an (H, W, 3) uint8 RGB frame."""
        height, width = rgb.shape[:2]
        small = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
        x = (small.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        batch = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        (prediction,) = self.session.run([self.output_name], {self.input_name: batch})
        prediction = np.asarray(prediction, dtype=np.float32).squeeze()
        if prediction.ndim != 2:
            raise StageError(f"the {self.label} model's first output has shape {prediction.shape}, not one map")
        low, high = float(prediction.min()), float(prediction.max())
        # A flat map says nothing is salient (and would divide 0 by 0).
        normalised = np.zeros_like(prediction) if high - low < 1e-12 else (prediction - low) / (high - low)
        return cv2.resize(normalised, (width, height), interpolation=cv2.INTER_LINEAR)

    def mask(self, rgb: np.ndarray, threshold: float) -> np.ndarray:
        """(H, W) uint8: 255 where the saliency is at least `threshold`, else 0."""
        return np.where(self.saliency(rgb) >= threshold, 255, 0).astype(np.uint8)
