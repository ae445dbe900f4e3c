"""Reading a shard's memory by role (``Inbox``) and the layout moves of P2 Thm C.1: Stage 1 scatters
the first ⌈n/s⌉ machines' words to the token machines, Stage 4 compresses token rows back into them.

Everything here is index arithmetic on ``mpcsim.Messages``; no per-machine Python loops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpcsim.errors import ProtocolError
from mpcsim.messages import Messages


@dataclass(frozen=True, eq=False)
class Inbox:
    """The messages held by machines lo..hi-1 of a shard (a contiguous slice of its memory, which is
    sorted by destination then source)."""

    src: np.ndarray
    dst: np.ndarray
    offsets: np.ndarray  # starts at 0
    words: np.ndarray

    @staticmethod
    def of(memory: Messages, lo: int, hi: int) -> "Inbox":
        a, b = np.searchsorted(memory.dst, [lo, hi])
        offs = memory.offsets[a: b + 1]
        return Inbox(memory.src[a:b], memory.dst[a:b], offs - offs[0], memory.words[offs[0]: offs[-1]])

    def __len__(self) -> int:
        return len(self.src)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def machines(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct destinations in order, index of each one's first message)."""
        first = np.flatnonzero(np.r_[True, self.dst[1:] != self.dst[:-1]]) if len(self) else np.zeros(0, np.int64)
        return self.dst[first], first

    def select(self, mask: np.ndarray) -> "Inbox":
        """The messages where ``mask`` holds (order kept)."""
        idx = np.flatnonzero(mask)
        sizes = self.sizes[idx]
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        word_idx = np.repeat(self.offsets[idx] - offsets[:-1], sizes) + np.arange(offsets[-1], dtype=np.int64)
        return Inbox(self.src[idx], self.dst[idx], offsets, self.words[word_idx])

    def records(self, width: int, what: str) -> np.ndarray:
        """Payloads as an (n, width) array; every message must have ``width`` words."""
        if len(self) and np.any(self.sizes != width):
            bad = int(np.flatnonzero(self.sizes != width)[0])
            raise ProtocolError(f"{what}: machine {int(self.dst[bad])} holds a message of {int(self.sizes[bad])} "
                                f"words from machine {int(self.src[bad])}, expected {width}")
        return self.words.reshape(len(self), width)

    def rows_per_machine(self, width: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        """(machines, their concatenated memory as an (n, width) array): each machine must hold
        exactly ``width`` words, possibly in several messages (a row split between two layout machines)."""
        machines, first = self.machines()
        held = np.diff(np.append(self.offsets[first], len(self.words)))
        if np.any(held != width):
            bad = int(np.flatnonzero(held != width)[0])
            raise ProtocolError(f"{what}: machine {int(machines[bad])} holds {int(held[bad])} words, expected {width}")
        return machines, self.words.reshape(len(machines), width)


def runs_to_messages(word_src: np.ndarray, word_dst: np.ndarray, words: np.ndarray) -> Messages:
    """One message per maximal run of consecutive words with the same (source, destination)."""
    n = len(words)
    if n == 0:
        return Messages.empty()
    cut = np.flatnonzero((word_src[1:] != word_src[:-1]) | (word_dst[1:] != word_dst[:-1])) + 1
    starts = np.r_[0, cut].astype(np.int64)
    return Messages(word_src[starts], word_dst[starts], np.r_[starts, n], words)


def layout_to_rows(inbox: Inbox, s: int, row_words: int, n_rows: int) -> Messages:
    """Stage 1 (P2 Thm C.1): machine j of the layout holds flat words j·s … (j+1)·s − 1 of an
    (n_rows, row_words) array; send each row's words to machine ``row`` (the token machine)."""
    if len(inbox) == 0:
        return Messages.empty()
    word_machine = np.repeat(inbox.dst, inbox.sizes)
    machines, first = inbox.machines()
    machine_start = np.repeat(inbox.offsets[first], np.diff(np.append(first, len(inbox))))  # per message
    position = np.arange(len(inbox.words), dtype=np.int64) - np.repeat(machine_start, inbox.sizes)
    flat = word_machine * s + position
    if flat[-1] >= n_rows * row_words:
        raise ProtocolError(f"scatter: machine {int(word_machine[-1])} holds word {int(flat[-1])} of the layout, "
                            f"which has only {n_rows * row_words} words")
    return runs_to_messages(word_machine, flat // row_words, inbox.words)


def rows_to_layout(rows_of: np.ndarray, rows: np.ndarray, s: int) -> Messages:
    """Stage 4 (P2 Thm C.1): machine rows_of[r] sends rows[r] (row number rows_of[r]) to flat
    positions rows_of[r]·width …, which machine ⌊position / s⌋ holds."""
    n, width = rows.shape
    flat = (rows_of[:, None] * width + np.arange(width, dtype=np.int64)).reshape(-1)
    return runs_to_messages(np.repeat(rows_of, width), flat // s, rows.reshape(-1))
