"""LPIPS weights (no download): read from a file, a folder or S3 in torchvision's and the lpips package's key
names, and LPIPS reported unavailable with the reason, never failing the job, where torchvision does not
load (this CPU venv) or no weights are configured. The value itself is checked against a reference
computation where torchvision loads: tests/stages/test_lpips_torchvision.py."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import torch

from gs_stages.cli import run_stage
from gs_stages.splat.lpips import CONV_INDEX, fetch_weights, load_lpips, read_weights, torchvision_problem

from .jobs import make_spec
from .splat_scenes import make_scene

#: AlexNet's tapped convolutions (out, in, kernel) and the LPIPS heads' channels.
CONVS = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
HEAD_CHANNELS = (64, 192, 384, 256, 256)
#: The lpips package's AlexNet slices: features[0:2], [2:5], [5:8], [8:10], [10:12].
SLICE_OF = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


def _weights(seed: int, naming: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, (out, inp, k) in CONVS.items():
        prefix = f"net.slice{SLICE_OF[index]}.{index}" if naming == "lpips" else f"features.{index}"
        state[f"{prefix}.weight"] = torch.randn(out, inp, k, k, generator=generator) * 0.05
        state[f"{prefix}.bias"] = torch.randn(out, generator=generator) * 0.01
    for i, channels in enumerate(HEAD_CHANNELS):
        state[f"lin{i}.model.1.weight"] = torch.rand(1, channels, 1, 1, generator=generator) * 0.1
    return state


def test_weights_read_in_either_naming_from_a_file_or_a_folder(tmp_path: Path) -> None:
    lpips_named = _weights(0, "lpips")
    torch.save(lpips_named, tmp_path / "alex.pth")
    backbone, heads = read_weights(tmp_path / "alex.pth")
    assert set(backbone) == {f"features.{i}.{p}" for i in CONV_INDEX for p in ("weight", "bias")}
    assert torch.equal(backbone["features.6.weight"], lpips_named["net.slice3.6.weight"]) and len(heads) == 5
    folder = tmp_path / "split"
    folder.mkdir()
    torchvision_named = _weights(1, "torchvision")
    torch.save({k: v for k, v in torchvision_named.items() if k.startswith("features.")}, folder / "alexnet.pth")
    backbone, heads = read_weights(folder)  # no heads: torchmetrics' packaged v0.1 heads are used
    assert torch.equal(backbone["features.10.bias"], torchvision_named["features.10.bias"]) and heads == {}


def test_incomplete_weights_say_what_is_missing(tmp_path: Path) -> None:
    state = _weights(2, "torchvision")
    torch.save({k: v for k, v in state.items() if not k.startswith("features.8.")}, tmp_path / "a.pth")
    with pytest.raises(ValueError, match=r"no AlexNet features\.8\.weight, features\.8\.bias in"):
        read_weights(tmp_path / "a.pth")
    torch.save({k: v for k, v in state.items() if k != "lin3.model.1.weight"}, tmp_path / "b.pth")
    with pytest.raises(ValueError, match=r"4 of the 5 LPIPS heads"):
        read_weights(tmp_path / "b.pth")


def test_unavailable_lpips_says_why(tmp_path: Path) -> None:
    problem = torchvision_problem()
    model, reason = load_lpips(None, torch.device("cpu"))
    assert model is None and reason.startswith("no LPIPS weights configured (engine setting lpips_weights)")
    torch.save(_weights(3, "lpips"), tmp_path / "alex.pth")
    model, reason = load_lpips(str(tmp_path / "alex.pth"), torch.device("cpu"))
    if problem is None:
        pytest.skip("torchvision loads here: test_lpips_torchvision.py checks the value")
    # This venv's torch is the CPU build, and torchvision's PyPI wheels are CUDA builds that do not load with it.
    assert model is None and reason == problem and reason.startswith("torchvision does not load here (")
    assert reason in load_lpips(None, torch.device("cpu"))[1]  # both reasons when both hold
    assert load_lpips(str(tmp_path / "gone.pth"), torch.device("cpu"))[1] == problem


def test_lpips_weights_from_s3(tmp_path: Path, moto_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An s3:// key (a file) or prefix (a folder), against the moto server over HTTP."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_env)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gs-models")
    state = _weights(4, "torchvision")
    torch.save(state, tmp_path / "alex.pth")
    s3.upload_file(str(tmp_path / "alex.pth"), "gs-models", "lpips/alex.pth")
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, tmp_path / "alexnet.pth")
    torch.save({k: v for k, v in state.items() if k.startswith("lin")}, tmp_path / "lin.pth")
    for name in ("alexnet.pth", "lin.pth"):
        s3.upload_file(str(tmp_path / name), "gs-models", f"lpips-split/{name}")
    for uri in ("s3://gs-models/lpips/alex.pth", "s3://gs-models/lpips-split/"):
        scratch = tmp_path / uri.rstrip("/").rsplit("/", 1)[-1].replace(".", "-")
        scratch.mkdir()
        local, reason = fetch_weights(uri, scratch)
        assert reason is None and local is not None, uri
        backbone, heads = read_weights(local)
        assert torch.equal(backbone["features.6.weight"], state["features.6.weight"]) and len(heads) == 5
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    assert fetch_weights("s3://gs-models/nothing/", nothing) == (
        None,
        "LPIPS weights not found at s3://gs-models/nothing/",
    )
    missing = fetch_weights("s3://gs-models/lpips/gone.pth", nothing)[1]
    assert missing.startswith("LPIPS weights not downloadable from s3://gs-models/lpips/gone.pth") and "404" in missing


def test_a_job_with_lpips_weights_completes_and_reports_lpips_plainly(tmp_path: Path) -> None:
    """The splat stage with LPIPS weights configured: where torchvision does not load, the job still completes
    and its metrics say LPIPS is unavailable and why; where it loads, LPIPS is a number."""
    torch.save(_weights(5, "lpips"), tmp_path / "alex.pth")
    scene = make_scene(tmp_path / "scene")
    spec = make_spec(**{"training.maxSteps": 20})
    settings = {"device": "cpu", "image_downscale": 1, "preset_overrides": {"num_downscales": 0}}
    settings["lpips_weights"] = str(tmp_path / "alex.pth")
    metrics = run_stage(
        "splat", spec, {"frames": scene.frames, "sparse_model": scene.sparse}, tmp_path / "out", settings
    )
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["psnr"] == pytest.approx(metrics["psnr"])
    problem = torchvision_problem()
    if problem is not None:
        assert written["lpips"] is None and written["lpips_absent_reason"] == problem
    else:
        assert written["lpips"] >= 0 and written["lpips_backbone"] == "alex, v0.1 heads configured"
