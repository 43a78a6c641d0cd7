"""Tiny ONNX models with U^2-Net's interface, written byte by byte (the `onnx` package is not installed).

U^2-Net takes one (1, 3, H, W) float image and returns seven (1, 1, H, W) saliency maps, the fused one
first. These stand-ins return a known function of the input instead: output 0 is one colour channel of
the normalised image (a 1x1 convolution), outputs 1..6 another channel, so a stage that reads the wrong
output, the wrong weight file or the wrong channel order gives the wrong masks.

Only the few ONNX protobuf fields these graphs need are encoded (field numbers from onnx.proto).
"""

from __future__ import annotations

import struct
from pathlib import Path

CHANNELS = {"red": 0, "green": 1, "blue": 2}
_FLOAT = 1  # TensorProto.FLOAT


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | str | int) -> bytes:
    """One protobuf field: varint for ints, length-delimited for bytes/strings/sub-messages."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, shape: tuple[int | str, ...]) -> bytes:
    dims = b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d)) for d in shape)
    tensor_type = _field(1, _FLOAT) + _field(2, dims)  # TypeProto.Tensor: elem_type, shape
    return _field(1, name) + _field(2, _field(1, tensor_type))  # ValueInfoProto: name, type


def _initializer(name: str, dims: tuple[int, ...], values: list[float]) -> bytes:
    data = b"".join(_field(1, d) for d in dims) + _field(2, _FLOAT)
    return data + _field(8, name) + _field(9, struct.pack(f"<{len(values)}f", *values))


def _node(op: str, inputs: list[str], outputs: list[str]) -> bytes:
    return b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs) + _field(4, op)


def saliency_model(
    path: Path, channel: str = "red", side: int | str = 320, decoy: str = "green", input_name: str = "input.1"
) -> Path:
    """Write a U^2-Net-shaped model whose fused output (output 0) is `channel` of its input.

    `side` is the input's height and width (a string makes them symbolic, as in some exports).
    """
    first, other = CHANNELS[channel], CHANNELS[decoy]
    pick = [1.0 if c == first else 0.0 for c in range(3)]
    decoy_pick = [1.0 if c == other else 0.0 for c in range(3)]
    shape_in = (1, 3, side, side)
    shape_out = (1, 1, side, side)
    nodes = [_node("Conv", [input_name, "w_fused"], ["d0"])]
    nodes += [_node("Conv", [input_name, "w_side"], [f"d{i}"]) for i in range(1, 7)]
    graph = b"".join(_field(1, n) for n in nodes) + _field(2, "u2net_stand_in")
    graph += _field(5, _initializer("w_fused", (1, 3, 1, 1), pick))
    graph += _field(5, _initializer("w_side", (1, 3, 1, 1), decoy_pick))
    graph += _field(11, _value_info(input_name, shape_in))
    graph += b"".join(_field(12, _value_info(f"d{i}", shape_out)) for i in range(7))
    opset = _field(1, "") + _field(2, 13)
    model = _field(1, 8) + _field(2, "gs-dagster tests") + _field(7, graph) + _field(8, opset)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model)
    return path
