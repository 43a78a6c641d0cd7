"""The masks stage (segmentation.* of the job): U^2-Net background removal through onnxruntime.

`stage.py` runs it and says what it writes, `u2net.py` is the network's pre- and post-processing,
`weights.py` where the ONNX files come from. The stage registry imports `gs_stages.masks:run`.
"""

from gs_stages.masks.stage import run

__all__ = ["run"]
