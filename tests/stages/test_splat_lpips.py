"""LPIPS loads real weight files (no download): the lpips package's and torchvision's key names.

The AlexNet/LPIPS v0.1 weights cannot be fetched here, so the test writes weight files of the real
shapes and names itself; what it proves is the loading and the metric's behaviour, not the values.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gs_stages.splat.metrics import LPIPS, load_lpips

# The lpips package's AlexNet slices: features[0:2], [2:5], [5:8], [8:10], [10:12].
SLICE_OF = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


def _weights(generator: torch.Generator, naming: str) -> dict[str, torch.Tensor]:
    reference = LPIPS()
    state: dict[str, torch.Tensor] = {}
    for conv_index, conv in zip(LPIPS.CONV_INDEX, reference.convs, strict=True):
        prefix = f"net.slice{SLICE_OF[conv_index]}.{conv_index}" if naming == "lpips" else f"features.{conv_index}"
        state[f"{prefix}.weight"] = torch.randn(conv.weight.shape, generator=generator) * 0.05
        state[f"{prefix}.bias"] = torch.randn(conv.bias.shape, generator=generator) * 0.01
    for i, head in enumerate(reference.heads):
        state[f"lin{i}.model.1.weight"] = torch.rand(head.weight.shape, generator=generator) * 0.1
    return state


def test_lpips_loads_a_state_dict_file_and_measures_distance(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    path = tmp_path / "alex.pth"
    torch.save(_weights(generator, "lpips"), path)
    model, reason = load_lpips(str(path), torch.device("cpu"))
    assert reason is None and model is not None
    image = torch.rand(64, 64, 3, generator=generator)
    slightly = (image + 0.02 * torch.randn(64, 64, 3, generator=generator)).clamp(0, 1)
    strongly = (image + 0.2 * torch.randn(64, 64, 3, generator=generator)).clamp(0, 1)
    assert float(model(image, image)) == 0.0
    assert 0.0 < float(model(image, slightly)) < float(model(image, strongly))


def test_lpips_merges_a_folder_with_torchvision_names(tmp_path: Path) -> None:
    state = _weights(torch.Generator().manual_seed(1), "torchvision")
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, tmp_path / "alexnet.pth")
    torch.save({k: v for k, v in state.items() if k.startswith("lin")}, tmp_path / "lin.pth")
    model, reason = load_lpips(str(tmp_path), torch.device("cpu"))
    assert reason is None and model is not None
    assert torch.equal(model.convs[2].weight, state["features.6.weight"])


def test_lpips_absent_or_incomplete_weights_say_why(tmp_path: Path) -> None:
    assert load_lpips(None, torch.device("cpu"))[1].startswith("no LPIPS weights configured")
    assert "not found" in load_lpips(str(tmp_path / "nope.pth"), torch.device("cpu"))[1]
    state = _weights(torch.Generator().manual_seed(2), "lpips")
    del state["lin3.model.1.weight"]
    torch.save(state, tmp_path / "partial.pth")
    model, reason = load_lpips(str(tmp_path / "partial.pth"), torch.device("cpu"))
    assert model is None and "heads.3.weight" in reason
