"""LPIPS of the held-out views through torchmetrics (`LearnedPerceptualImagePatchSimilarity`, AlexNet,
LPIPS v0.1 heads, inputs in [0, 1]), with its weights from the `lpips_weights` engine setting: nothing is
downloaded at run time.

torchmetrics builds the AlexNet backbone through torchvision with ImageNet weights, which torchvision
looks up in torch hub's checkpoint folder before it would download them. So the configured weights are put
in a private hub folder under torchvision's own file name (`torch.hub.set_dir` for the construction only):
torchvision's AlexNet file (`alexnet-owt-7be5be79.pth`, what nerfacto's LPIPS reads too), or a file with
only the convolutions, in torchvision's (`features.N.*`) or the `lpips` package's (`net.sliceK.N.*`) names.
The linear heads are torchmetrics' packaged v0.1 heads unless a file in the folder holds `linK.model.1.weight`.

Where torchvision does not load (the CPU development venv: its PyPI wheels are CUDA builds linked against
libtorch_cuda.so, which a CPU-only torch lacks) or no weights are configured, LPIPS is reported
unavailable with the reason, and the job goes on: LPIPS is reported, never judged.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from gs_stages import s3_files

#: torchvision AlexNet's convolutions (features.N) that LPIPS taps.
CONV_INDEX = (0, 3, 6, 8, 10)
HEADS = 5


class LpipsMetric:
    """torchmetrics' LPIPS on (H, W, 3) images in [0, 1]; `source` says whose weights it runs on."""

    def __init__(self, metric: torch.nn.Module, source: str) -> None:
        self.metric, self.source = metric, source

    @torch.no_grad()
    def __call__(self, prediction: Tensor, target: Tensor) -> Tensor:
        x = prediction.permute(2, 0, 1)[None].float().clamp(0, 1)
        y = target.permute(2, 0, 1)[None].float().clamp(0, 1)
        value = self.metric(x, y)
        self.metric.reset()
        return value


def load_lpips(path: str | None, device: torch.device) -> tuple[LpipsMetric | None, str | None]:
    """(metric, None), or (None, why LPIPS is unavailable). `path`: a weight file or folder, or an s3:// key
    (a file) or prefix ending in "/" (a folder), downloaded to a temporary folder first."""
    unloadable = torchvision_problem()
    if not path:
        also = f"; and {unloadable}" if unloadable else ""
        return None, f"no LPIPS weights configured (engine setting lpips_weights){also}"
    if unloadable:
        return None, unloadable
    with tempfile.TemporaryDirectory(prefix="lpips-") as scratch:
        local, absent = fetch_weights(path, Path(scratch))
        if local is None:
            return None, absent
        try:
            return _build(local, device), None
        except (ValueError, RuntimeError, OSError) as exc:
            return None, f"LPIPS weights at {path} unusable: {exc}"


def fetch_weights(path: str, scratch: Path) -> tuple[Path | None, str | None]:
    """(local file or folder, None), or (None, why not): an s3:// key or prefix ("/") is downloaded to `scratch`."""
    if not path.startswith("s3://"):
        return (Path(path), None) if Path(path).exists() else (None, f"LPIPS weights not found at {path}")
    try:
        if path.endswith("/"):
            local = scratch if s3_files.download_prefix(path, scratch) else None
        else:
            local = s3_files.download(path, scratch / Path(s3_files.split_uri(path)[1]).name)
    except s3_files.S3FileError as exc:
        return None, f"LPIPS weights not downloadable from {path}: {exc}"
    return (local, None) if local is not None else (None, f"LPIPS weights not found at {path}")


def _build(path: Path, device: torch.device) -> LpipsMetric:
    """torchmetrics' LPIPS on the weights at `path`, torchvision finding the backbone in a private hub folder."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity
    from torchvision.models import AlexNet_Weights, alexnet

    backbone, heads = read_weights(path)
    with tempfile.TemporaryDirectory(prefix="lpips-hub-") as hub:
        checkpoint = Path(hub) / "checkpoints" / Path(AlexNet_Weights.IMAGENET1K_V1.url).name
        checkpoint.parent.mkdir()
        full = alexnet(weights=None).state_dict()  # the classifier LPIPS never uses, for torchvision's strict load
        torch.save({**full, **backbone}, checkpoint)
        with _hub_dir(hub):
            metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    if heads:
        metric.net.load_state_dict(heads, strict=False)
    source = "alex, v0.1 heads " + ("configured" if heads else "packaged with torchmetrics")
    return LpipsMetric(metric.to(device).eval(), source)


def torchvision_problem() -> str | None:
    """Why torchvision (torchmetrics' LPIPS backbone) does not load in this environment, or None."""
    try:
        import torchvision.models  # noqa: F401
    except Exception as exc:  # a CUDA build next to a CPU-only torch raises RuntimeError, not ImportError
        return f"torchvision does not load here ({type(exc).__name__}: {exc}); torchmetrics' LPIPS needs it"
    return None


def read_weights(path: Path) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(torchvision `features.N.*` tensors, `linK.model.1.weight` heads) from one file or a folder's *.pth/*.pt."""
    files = sorted([*path.glob("*.pth"), *path.glob("*.pt")]) if path.is_dir() else [path]
    backbone: dict[str, Tensor] = {}
    heads: dict[str, Tensor] = {}
    for file in files:
        for key, value in torch.load(file, map_location="cpu", weights_only=True).items():
            conv = re.fullmatch(r"(?:net\.slice\d\.|features\.)(\d+)\.(weight|bias)", key)
            if conv and int(conv[1]) in CONV_INDEX:
                backbone[f"features.{conv[1]}.{conv[2]}"] = value
            elif re.fullmatch(r"lin\d\.model\.1\.weight", key):
                heads[key] = value
    missing = [f"features.{i}.{part}" for i in CONV_INDEX for part in ("weight", "bias")]
    missing = [key for key in missing if key not in backbone]
    if missing:
        raise ValueError(f"no AlexNet {', '.join(missing)} in {path}")
    if heads and len(heads) != HEADS:
        raise ValueError(f"{len(heads)} of the {HEADS} LPIPS heads (linK.model.1.weight) in {path}")
    return backbone, heads


@contextmanager
def _hub_dir(folder: str) -> Iterator[None]:
    previous = torch.hub.get_dir()
    torch.hub.set_dir(folder)
    try:
        yield
    finally:
        torch.hub.set_dir(previous)
