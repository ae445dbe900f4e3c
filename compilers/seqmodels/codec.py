"""How model quantities are written on a board or a transcript: exact bit strings.

A real number is written as its IEEE-754 encoding in the model's dtype (float64: p = 64 bits,
float32: p = 32), big-endian, so decoding returns the very same number and the protocol's
arithmetic matches the model's; a binary state is written one bit per unit; a small integer
(a token, a code) in ⌈log2 (number of values)⌉ bits. Message sizes are therefore
numbers × p, counted from what is written (THEORY.md d.1), never from a pickle.
"""
from __future__ import annotations

from typing import Any

import numpy as np

_ASCII_ZERO = ord("0")


def precision_bits(dtype: Any) -> int:
    """p: the bits of one number of ``dtype`` (a numpy or torch float dtype, or its name)."""
    return numpy_dtype(dtype).itemsize * 8


def numpy_dtype(dtype: Any) -> np.dtype:
    """The numpy dtype for a numpy/torch dtype or a name such as 'float64' or 'torch.float32'."""
    name = str(dtype).replace("torch.", "")
    try:
        dt = np.dtype(name)
    except TypeError:
        raise ValueError(f"no exact bit codec for dtype {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"expected a float dtype, got {dtype!r}")
    return dt


def _as_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor (torch itself is not imported here)
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _bits_from_bytes(raw: np.ndarray) -> str:
    return (np.unpackbits(raw) + _ASCII_ZERO).tobytes().decode("ascii")


def _bytes_from_bits(bits: str) -> np.ndarray:
    return np.packbits(np.frombuffer(bits.encode("ascii"), np.uint8) - _ASCII_ZERO)


def float_bits(values: Any, dtype: Any = "float64") -> str:
    """The IEEE-754 encodings of ``values`` (flattened, C order) in ``dtype``: p bits per number."""
    dt = numpy_dtype(dtype).newbyteorder(">")
    raw = np.ascontiguousarray(_as_numpy(values), dtype=dt).reshape(-1).view(np.uint8)
    return _bits_from_bytes(raw)


def bits_floats(bits: str, dtype: Any = "float64", shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Inverse of ``float_bits``: the numbers (native byte order), reshaped to ``shape`` if given."""
    dt = numpy_dtype(dtype)
    p = dt.itemsize * 8
    if len(bits) % p:
        raise ValueError(f"{len(bits)} bits is not a whole number of {p}-bit numbers")
    out = _bytes_from_bits(bits).view(dt.newbyteorder(">")).astype(dt)
    return out.reshape(shape) if shape is not None else out


def binary_bits(values: Any) -> str:
    """A 0/1 array written one bit per entry (a binary RNN state, THEORY.md a.8)."""
    arr = _as_numpy(values).reshape(-1)
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError("binary_bits needs entries in {0, 1}")
    return (arr.astype(np.uint8) + _ASCII_ZERO).tobytes().decode("ascii")


def bits_binary(bits: str) -> np.ndarray:
    """Inverse of ``binary_bits``: a uint8 array of 0/1."""
    return np.frombuffer(bits.encode("ascii"), np.uint8) - _ASCII_ZERO


def codes_bits(codes: Any, width: int) -> str:
    """Small non-negative integers, ``width`` bits each, most significant first."""
    arr = _as_numpy(codes).reshape(-1).astype(np.int64)
    if width == 0:
        return ""
    if arr.size and (arr.min() < 0 or arr.max() >= (1 << width)):
        raise ValueError(f"codes must lie in [0, 2^{width})")
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bits = ((arr[:, None] >> shifts) & 1).astype(np.uint8)
    return (bits.reshape(-1) + _ASCII_ZERO).tobytes().decode("ascii")


def bits_codes(bits: str, width: int) -> np.ndarray:
    """Inverse of ``codes_bits``."""
    if width == 0:
        return np.zeros(0, np.int64)
    if len(bits) % width:
        raise ValueError(f"{len(bits)} bits is not a whole number of {width}-bit codes")
    b = bits_binary(bits).reshape(-1, width).astype(np.int64)
    return b @ (1 << np.arange(width - 1, -1, -1, dtype=np.int64))
