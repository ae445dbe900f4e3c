"""Batches of addressed messages and machine memories as flat arrays (ARCHITECTURE: "messages
are batches").

A ``Messages`` batch holds M messages: ``src[m]`` and ``dst[m]`` are machine ids and message m's
payload is ``words[offsets[m]:offsets[m+1]]``. A machine's memory is the batch of messages it
received (P2 Def. 2.3: MachineIn^{(r+1)} is the set of (Msg, Src) pairs received), sorted by
(destination, source, emission order), so memories are identical whatever the sharding.
Source ``INPUT_SOURCE`` (-1) marks input words placed by the environment before round 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_SOURCE = -1

_I64 = np.int64
_FEW_MESSAGES = 2048  # below this many messages, gathering by slices beats a per-word index


def _as_i64(a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != _I64:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"message fields must be integer arrays, got dtype {arr.dtype}")
        arr = arr.astype(_I64)
    return arr


def _exact_int(value, what: str) -> int:
    """An int (or numpy integer) as a Python int; anything else (floats, bools, strings) is refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"a message {what} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def ragged_gather_index(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the rows ``idx`` of a ragged array with ``offsets``: (new offsets, flat word index)."""
    sizes = offsets[idx + 1] - offsets[idx]
    new_offsets = np.zeros(len(idx) + 1, dtype=_I64)
    np.cumsum(sizes, out=new_offsets[1:])
    total = int(new_offsets[-1])
    if total == 0:
        return new_offsets, np.zeros(0, dtype=_I64)
    # word t of the output belongs to row r = repeat; its index is offsets[idx[r]] + (t - new_offsets[r])
    starts = np.repeat(offsets[idx] - new_offsets[:-1], sizes)
    return new_offsets, starts + np.arange(total, dtype=_I64)


@dataclass(frozen=True, eq=False)
class Messages:
    """M addressed messages with ragged integer payloads, as flat arrays."""

    src: np.ndarray
    dst: np.ndarray
    offsets: np.ndarray
    words: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "src", _as_i64(self.src))
        object.__setattr__(self, "dst", _as_i64(self.dst))
        object.__setattr__(self, "offsets", _as_i64(self.offsets))
        object.__setattr__(self, "words", _as_i64(self.words))
        m = len(self.src)
        if len(self.dst) != m or len(self.offsets) != m + 1:
            raise ValueError(
                f"Messages: src ({len(self.src)}), dst ({len(self.dst)}) and offsets "
                f"({len(self.offsets)} = M+1 expected) disagree"
            )
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.words) or np.any(np.diff(self.offsets) < 0):
            raise ValueError("Messages: offsets must start at 0, be non-decreasing and end at len(words)")

    # ---- constructors ---------------------------------------------------------------------
    @staticmethod
    def empty() -> "Messages":
        z = np.zeros(0, dtype=_I64)
        return Messages(z, z, np.zeros(1, dtype=_I64), z)

    @staticmethod
    def from_records(src, dst, payload) -> "Messages":
        """Messages of equal width: ``payload`` has shape (M, w) (or (M,) for one word each)."""
        payload = _as_i64(payload)
        if payload.ndim == 1:
            payload = payload[:, None]
        m, w = payload.shape
        src = np.broadcast_to(_as_i64(src), (m,))
        dst = _as_i64(dst)
        return Messages(src, dst, np.arange(m + 1, dtype=_I64) * w, payload.reshape(-1))

    @staticmethod
    def from_lists(items) -> "Messages":
        """From an iterable of (src, dst, [words...]) triples (the per-machine convenience form)."""
        items = list(items)
        if not items:
            return Messages.empty()
        src = [_exact_int(a, "source") for a, _, _ in items]
        dst = [_exact_int(b, "destination") for _, b, _ in items]
        payloads = [list(p) for _, _, p in items]
        sizes = [len(p) for p in payloads]
        offsets = np.zeros(len(items) + 1, dtype=_I64)
        np.cumsum(sizes, out=offsets[1:])
        flat = [_exact_int(w, "word") for p in payloads for w in p]
        return Messages(src, dst, offsets, np.array(flat, dtype=_I64))

    @staticmethod
    def concat(batches) -> "Messages":
        batches = [b for b in batches if len(b)]
        if not batches:
            return Messages.empty()
        if len(batches) == 1:
            return batches[0]
        sizes = np.concatenate([b.sizes for b in batches])
        offsets = np.zeros(len(sizes) + 1, dtype=_I64)
        np.cumsum(sizes, out=offsets[1:])
        return Messages(
            np.concatenate([b.src for b in batches]),
            np.concatenate([b.dst for b in batches]),
            offsets,
            np.concatenate([b.words for b in batches]),
        )

    # ---- views ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.src)

    @property
    def sizes(self) -> np.ndarray:
        """Words in each message."""
        return np.diff(self.offsets)

    @property
    def total_words(self) -> int:
        return len(self.words)

    def take(self, idx) -> "Messages":
        """The messages at positions ``idx``, in that order."""
        idx = _as_i64(idx)
        m = len(self)
        if m and self.offsets[-1] == m * self.offsets[1] and np.array_equal(self.offsets, np.arange(m + 1) * self.offsets[1]):
            w = int(self.offsets[1])  # equal widths: a 2-D row gather, no per-word index
            words = self.words.reshape(m, w)[idx].reshape(-1)
            return Messages(self.src[idx], self.dst[idx], np.arange(len(idx) + 1, dtype=_I64) * w, words)
        if len(idx) <= _FEW_MESSAGES:  # few (typically long) messages: copy slices, no per-word index
            sizes = self.offsets[idx + 1] - self.offsets[idx]
            new_offsets = np.zeros(len(idx) + 1, dtype=_I64)
            np.cumsum(sizes, out=new_offsets[1:])
            starts = self.offsets[idx].tolist()
            ends = self.offsets[idx + 1].tolist()
            words = np.concatenate([self.words[a:b] for a, b in zip(starts, ends)]) if len(idx) else self.words[:0]
            return Messages(self.src[idx], self.dst[idx], new_offsets, words)
        new_offsets, word_idx = ragged_gather_index(self.offsets, idx)
        return Messages(self.src[idx], self.dst[idx], new_offsets, self.words[word_idx])

    def records(self, width: int | None = None) -> np.ndarray:
        """Payloads as an (M, w) array; every message must have the same width w."""
        sizes = self.sizes
        if len(self) == 0:
            return np.zeros((0, width or 0), dtype=_I64)
        w = int(sizes[0]) if width is None else width
        if np.any(sizes != w):
            raise ValueError(f"records(): messages have widths {sorted(set(sizes.tolist()))[:5]}, expected all {w}")
        return self.words.reshape(len(self), w)

    def words_per_machine(self, key: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Words per machine lo..hi-1, grouping messages by ``key`` (src or dst)."""
        return np.bincount(key - lo, weights=self.sizes, minlength=hi - lo).astype(_I64)[: hi - lo]

    def sorted_for_delivery(self) -> "Messages":
        """Stable sort by (dst, src): the canonical order of a memory (independent of sharding)."""
        if len(self) <= 1:
            return self
        src = self.src - INPUT_SOURCE  # >= 0
        span = int(src.max()) + 1
        key = self.dst * span + src
        if np.all(key[1:] >= key[:-1]):  # already in delivery order (common): nothing to move
            return self
        return self.take(np.argsort(key, kind="stable"))

    def equals(self, other: "Messages") -> bool:
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in ("src", "dst", "offsets", "words"))


def input_layout(inputs: np.ndarray, s: int) -> Messages:
    """P2 Def. 2.3: the input spread over the first ⌈n/s⌉ machines in order, s words each, as one
    message per machine from ``INPUT_SOURCE``."""
    inputs = _as_i64(inputs).reshape(-1)
    n = len(inputs)
    machines = max(1, -(-n // s))
    dst = np.arange(machines, dtype=_I64)
    offsets = np.minimum(np.arange(machines + 1, dtype=_I64) * s, n)
    return Messages(np.full(machines, INPUT_SOURCE, dtype=_I64), dst, offsets, inputs)
