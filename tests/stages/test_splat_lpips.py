"""LPIPS loads real weight files (no download): the lpips package's and torchvision's key names.

The AlexNet/LPIPS v0.1 weights cannot be fetched here, so the test writes weight files of the real
shapes and names itself; what it proves is the loading and the metric's behaviour, not the values.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
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


def test_lpips_weights_from_s3(tmp_path: Path, moto_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An s3:// key (a file) or prefix (a folder), against the moto server over HTTP."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_env)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gs-models")
    state = _weights(torch.Generator().manual_seed(3), "torchvision")
    torch.save(state, tmp_path / "alex.pth")
    s3.upload_file(str(tmp_path / "alex.pth"), "gs-models", "lpips/alex.pth")
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, tmp_path / "alexnet.pth")
    torch.save({k: v for k, v in state.items() if k.startswith("lin")}, tmp_path / "lin.pth")
    for name in ("alexnet.pth", "lin.pth"):
        s3.upload_file(str(tmp_path / name), "gs-models", f"lpips-split/{name}")

    for uri in ("s3://gs-models/lpips/alex.pth", "s3://gs-models/lpips-split/"):
        model, reason = load_lpips(uri, torch.device("cpu"))
        assert reason is None and model is not None, uri
        assert torch.equal(model.convs[2].weight, state["features.6.weight"])
    assert (
        load_lpips("s3://gs-models/nothing/", torch.device("cpu"))[1]
        == "LPIPS weights not found at s3://gs-models/nothing/"
    )
    missing = load_lpips("s3://gs-models/lpips/gone.pth", torch.device("cpu"))[1]
    assert missing.startswith("LPIPS weights not downloadable from s3://gs-models/lpips/gone.pth") and "404" in missing
