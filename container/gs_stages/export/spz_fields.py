"""Quantisers for each attribute of an SPZ (version 3) payload, bit-for-bit as Niantic's packer does them.

Niantic's C++ (`load-spz.cc`, `packGaussians`) computes in float32 and rounds with `std::round`
(halves away from zero), so each function here repeats those float32 operations in the same order:
numpy's float32 arithmetic is the same IEEE arithmetic, which is what makes the output byte-identical
rather than merely close. Two deliberate details: `np.round` rounds halves to even, hence
`round_half_away`; and `exp` is computed in float64 and rounded once to float32, the correctly rounded
value that glibc's `expf` (error bound 0.502 ulp) returns in all but vanishingly rare cases.

The decoders mirror Niantic's `unpackGaussians` and are what our reader and tests use.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
#: DC colour scale: SPZ maps f_dc to 8 bits as f_dc * 0.15 * 255 + 127.5 (wider than SH_C0's range).
COLOR_SCALE = F32(0.15)
SQRT1_2 = F32(0.7071067811865476)
#: Bucket sizes of SH quantisation: 5 significant bits for band 1, 4 for bands 2 and 3.
SH1_BUCKET = 1 << (8 - 5)
SH_REST_BUCKET = 1 << (8 - 4)
_MAG_MASK = (1 << 9) - 1


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C's `std::round` of float32 values, as float64 (exact: float32 + 0.5 fits a float64)."""
    x64 = np.asarray(x, dtype=np.float64)
    return np.copysign(np.floor(np.abs(x64) + 0.5), x64)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Niantic's `toUint8`: round half away from zero, clamp to 0..255."""
    return np.clip(round_half_away(x), 0, 255).astype(np.uint8)


def pack_positions(means: np.ndarray, fractional_bits: int) -> np.ndarray:
    """24-bit little-endian two's-complement fixed point per coordinate: (N*3*3,) bytes."""
    scaled = np.asarray(means, dtype=F32) * F32(1 << fractional_bits)
    fixed = round_half_away(scaled).astype(np.int64) & 0xFFFFFF
    return np.stack([fixed & 0xFF, (fixed >> 8) & 0xFF, fixed >> 16], axis=-1).astype(np.uint8).reshape(-1)


def unpack_positions(raw: np.ndarray, fractional_bits: int) -> np.ndarray:
    b = raw.reshape(-1, 3, 3).astype(np.int32)
    fixed = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
    fixed = np.where(fixed & 0x800000, fixed - (1 << 24), fixed)
    return (fixed.astype(F32) * F32(1.0 / (1 << fractional_bits))).astype(F32)


def pack_scales(scales: np.ndarray) -> np.ndarray:
    """Log scales to 8 bits: (s + 10) * 16, i.e. steps of 1/16 in log space over [-10, 5.9]."""
    return to_uint8((np.asarray(scales, dtype=F32) + F32(10.0)) * F32(16.0)).reshape(-1)


def unpack_scales(raw: np.ndarray) -> np.ndarray:
    return (raw.reshape(-1, 3).astype(F32) / F32(16.0) - F32(10.0)).astype(F32)


def pack_alphas(opacities: np.ndarray) -> np.ndarray:
    """Logit opacity to 8 bits of sigmoid(opacity) * 255."""
    x = np.asarray(opacities, dtype=F32).reshape(-1)
    with np.errstate(over="ignore"):
        e = np.exp(-x.astype(np.float64)).astype(F32)
    return to_uint8((F32(1.0) / (F32(1.0) + e)) * F32(255.0))


def unpack_alphas(raw: np.ndarray) -> np.ndarray:
    """Logit of a/255, kept finite: 0 and 255 map to logit(1e-6) and logit(1 - 1e-6) (as splat-transform)."""
    a = np.clip(raw.astype(np.float64) / 255.0, 1e-6, 1.0 - 1e-6)
    return np.log(a / (1.0 - a)).astype(F32)


def pack_colors(dc: np.ndarray) -> np.ndarray:
    """SH DC coefficients (N, 3) to 8 bits each with Niantic's colour scale."""
    return to_uint8(np.asarray(dc, dtype=F32) * (COLOR_SCALE * F32(255.0)) + F32(127.5)).reshape(-1)


def unpack_colors(raw: np.ndarray) -> np.ndarray:
    return ((raw.reshape(-1, 3).astype(F32) / F32(255.0) - F32(0.5)) / COLOR_SCALE).astype(F32)


def pack_rotations(quats_wxyz: np.ndarray) -> np.ndarray:
    """Version 3 "smallest three": per quaternion one little-endian uint32 (N*4 bytes).

    Bits 30-31 hold the index (in x, y, z, w order) of the largest-magnitude component, which is made
    positive (q and -q are the same rotation) and not stored; the other three follow in x, y, z, w
    order from bit 29 down, 10 bits each: a sign bit, then |c| / √½ on 9 bits.
    """
    q = np.asarray(quats_wxyz, dtype=F32)[:, [1, 2, 3, 0]]
    norm = np.sqrt(((q[:, 0] * q[:, 0] + q[:, 1] * q[:, 1]) + q[:, 2] * q[:, 2]) + q[:, 3] * q[:, 3])
    q = q / norm[:, None]
    largest = np.argmax(np.abs(q), axis=1)  # first of equal maxima, as Niantic's strict '>' scan
    negate = q[np.arange(len(q)), largest] < 0
    comp = largest.astype(np.uint32)
    for i in range(4):
        negbit = ((q[:, i] < 0) ^ negate).astype(np.uint32)
        mag = (F32(_MAG_MASK) * (np.abs(q[:, i]) / SQRT1_2) + F32(0.5)).astype(np.uint32)
        comp = np.where(largest == i, comp, (comp << np.uint32(10)) | (negbit << np.uint32(9)) | mag)
    return comp.astype("<u4").view(np.uint8)


def unpack_rotations(raw: np.ndarray) -> np.ndarray:
    """Smallest-three bytes back to unit quaternions (N, 4) in w, x, y, z order."""
    comp = raw.view("<u4").astype(np.uint32)
    largest = comp >> np.uint32(30)
    xyzw = np.zeros((len(comp), 4), dtype=F32)
    for i in (3, 2, 1, 0):
        stored = largest != i
        mag = (comp & np.uint32(_MAG_MASK)).astype(F32)
        value = SQRT1_2 * mag / F32(_MAG_MASK)
        value = np.where((comp >> np.uint32(9)) & np.uint32(1), -value, value)
        xyzw[:, i] = np.where(stored, value, F32(0.0))
        comp = np.where(stored, comp >> np.uint32(10), comp)
    rows = np.arange(len(xyzw))
    xyzw[rows, largest] = np.sqrt(np.maximum(F32(0.0), F32(1.0) - (xyzw * xyzw).sum(axis=1)))
    return xyzw[:, [3, 0, 1, 2]]


def unpack_rotations_v2(raw: np.ndarray) -> np.ndarray:
    """Version 2 rotations: x, y, z as 8-bit (v / 127.5 - 1), w ≥ 0 derived; returned as w, x, y, z."""
    xyz = raw.reshape(-1, 3).astype(F32) / F32(127.5) - F32(1.0)
    w = np.sqrt(np.maximum(F32(0.0), F32(1.0) - (xyz * xyz).sum(axis=1)))
    return np.concatenate([w[:, None], xyz], axis=1).astype(F32)


def pack_sh(sh_rest: np.ndarray) -> np.ndarray:
    """SH bands ≥ 1, (N, K-1, 3): coefficient-major with the colour channel fastest, 8 bits each.

    Each value maps to round(x * 128) + 128 and is then snapped to the centre of its bucket (8 wide
    for band 1, 16 for the rest), with C's truncating integer division, then clamped to 0..255.
    """
    rest = np.clip(np.asarray(sh_rest, dtype=F32), -4.0, 4.0)  # anything beyond ±2 saturates anyway
    q = (round_half_away(rest * F32(128.0)) + 128.0).astype(np.int64)
    bucket = np.where(np.arange(rest.shape[1]) < 3, SH1_BUCKET, SH_REST_BUCKET)[None, :, None]
    t = q + bucket // 2
    snapped = np.sign(t) * (np.abs(t) // bucket) * bucket  # C division truncates toward zero
    return np.clip(snapped, 0, 255).astype(np.uint8).reshape(-1)


def unpack_sh(raw: np.ndarray, count: int, coefficients: int) -> np.ndarray:
    return ((raw.reshape(count, coefficients, 3).astype(F32) - F32(128.0)) / F32(128.0)).astype(F32)
