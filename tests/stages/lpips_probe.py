"""Run by tests/stages/test_lpips_torchvision.py in a venv where torchvision loads (the SAM 2 venv):
gs_stages' LPIPS (torchmetrics) on weight files this script writes, next to a reference computation of
LPIPS v0.1 (Zhang et al. 2018) written out here from torchvision's AlexNet layers. Prints one JSON object."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models import alexnet

from gs_stages.splat.lpips import CONV_INDEX, load_lpips

SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
#: The lpips package's AlexNet slices: features[0:2], [2:5], [5:8], [8:10], [10:12].
SLICE_OF = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


def reference(features: torch.nn.Sequential, heads: list[torch.Tensor], a: torch.Tensor, b: torch.Tensor) -> float:
    """Sum over the five ReLU taps of the spatial mean of the heads' weighted squared unit-feature difference."""

    def taps(image: torch.Tensor) -> list[torch.Tensor]:
        x = ((image.permute(2, 0, 1)[None] * 2 - 1) - SHIFT) / SCALE
        out = []
        for index, layer in enumerate(features):
            x = layer(x)
            if index - 1 in CONV_INDEX:  # the ReLU after each tapped convolution
                out.append(x)
        return out

    total = 0.0
    for head, fa, fb in zip(heads, taps(a), taps(b), strict=True):
        fa = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        fb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total += F.conv2d((fa - fb) ** 2, head).mean().item()
    return total


def _packaged_heads_file() -> Path:
    import torchmetrics

    return Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / "alex.pth"


def main(work: Path) -> dict:
    torch.manual_seed(0)
    net = alexnet(weights=None).eval()
    heads = [torch.rand(1, c, 1, 1) * 0.1 for c in (64, 192, 384, 256, 256)]
    full, lpips_named = work / "full", work / "lpips-named"
    full.mkdir()
    lpips_named.mkdir()
    torch.save(net.state_dict(), full / "alexnet-owt-7be5be79.pth")  # torchvision's file, as downloaded
    torch.save({f"lin{i}.model.1.weight": h for i, h in enumerate(heads)}, full / "heads.pth")
    convs = {
        f"net.slice{SLICE_OF[i]}.{i}.{p}": net.features[i].state_dict()[p]
        for i in CONV_INDEX
        for p in ("weight", "bias")
    }
    torch.save({**convs, **{f"lin{i}.model.1.weight": h for i, h in enumerate(heads)}}, lpips_named / "alex.pth")
    a = torch.rand(64, 80, 3, generator=torch.Generator().manual_seed(1))
    b = (a + 0.2 * torch.randn(64, 80, 3, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    results: dict = {}
    with torch.no_grad():
        results["reference"] = reference(net.features, heads, a, b)
        for name, path in (("full", full), ("lpips_named", lpips_named)):
            metric, _ = load_lpips(str(path), torch.device("cpu"))
            results[name] = {"value": float(metric(a, b)), "same": float(metric(a, a)), "source": metric.source}
        (full / "heads.pth").unlink()  # torchmetrics' packaged v0.1 heads: the real LPIPS heads
        metric, _ = load_lpips(str(full), torch.device("cpu"))
        packaged = torch.load(_packaged_heads_file(), map_location="cpu")
        packaged_heads = [packaged[f"lin{i}.model.1.weight"] for i in range(5)]
        results["packaged"] = {"value": float(metric(a, b)), "source": metric.source}
        results["packaged_reference"] = reference(net.features, packaged_heads, a, b)
        torch.save({k: v for k, v in convs.items() if ".slice5." not in k}, work / "partial.pth")
        results["partial_reason"] = load_lpips(str(work / "partial.pth"), torch.device("cpu"))[1]
    return results


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
