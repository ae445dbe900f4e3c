"""Real numbers as MPC words, losslessly (P2 Def. 2.3 words; App. A.1 precision p).

The engine's words are int64 values in [0, 2^p) with p ≤ 62, so a float64 bit pattern (64 bits)
does not fit in one word. We use p = 32 bits per word and carry every real number as its exact
IEEE-754 bit pattern:

* float32: one 32-bit word, the float's bit pattern;
* float64: two 32-bit words, the high then the low half of the bit pattern.

Both directions are exact (every bit pattern, including ±0, ±inf and NaN payloads, round-trips),
and every word counts toward the s-word limits, so a float64 costs 2 words = 64 bits honestly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORD_BITS = 32  # p: one word is 32 bits, the size of a float32 and half a float64
_LOW_MASK = np.uint64((1 << WORD_BITS) - 1)
_SUPPORTED = ("float32", "float64")


@dataclass(frozen=True)
class FloatCodec:
    """Exact encoding of ``dtype`` arrays into 32-bit words; the last axis grows by ``words_per_float``."""

    dtype: str

    def __post_init__(self) -> None:
        if self.dtype not in _SUPPORTED:
            raise ValueError(f"FloatCodec supports {_SUPPORTED}, got dtype {self.dtype!r}")

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def words_per_float(self) -> int:
        """w: 64-bit floats take 2 words of 32 bits, 32-bit floats one."""
        return self.np_dtype.itemsize * 8 // WORD_BITS

    def encode(self, x: np.ndarray) -> np.ndarray:
        """(..., k) floats → (..., k·w) int64 words in [0, 2^32)."""
        x = np.ascontiguousarray(x, dtype=self.np_dtype)
        if self.words_per_float == 1:
            return x.view(np.uint32).astype(np.int64)
        bits = x.view(np.uint64)
        hi_lo = np.stack([bits >> np.uint64(WORD_BITS), bits & _LOW_MASK], axis=-1)  # (..., k, 2)
        return hi_lo.reshape(*x.shape[:-1], x.shape[-1] * 2).astype(np.int64)

    def decode(self, words: np.ndarray) -> np.ndarray:
        """(..., k·w) words → (..., k) floats; the inverse of ``encode``."""
        words = np.asarray(words, dtype=np.int64)
        w = self.words_per_float
        if words.shape[-1] % w:
            raise ValueError(f"{words.shape[-1]} words do not split into {self.dtype} values of {w} words")
        if words.size and (words.min() < 0 or words.max() >> WORD_BITS):
            raise ValueError(f"float words must lie in [0, 2^{WORD_BITS})")
        if w == 1:
            return np.ascontiguousarray(words.astype(np.uint32)).view(np.float32)
        pairs = words.astype(np.uint64).reshape(*words.shape[:-1], words.shape[-1] // 2, 2)
        bits = np.ascontiguousarray((pairs[..., 0] << np.uint64(WORD_BITS)) | pairs[..., 1])
        return bits.view(np.float64)
