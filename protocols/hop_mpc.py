"""hop_k as MPC protocols (P2 Def. 4.1 task; P2 Thm 4.2's pointer-doubling scheme run on P2 Def. 2.3
machines; THEORY.md b.6, c.2).

``HopProtocol`` computes hop_k(X)_i for every i in ``hop_rounds = 7 + ⌈log2 k⌉`` rounds (0 for
k = 0), for any n and δ at which its single-level sample sort fits (``HopPlan``):

* round 1 (spread): the input moves from the input layout (s tokens per machine) to the working
  layout of B positions per owner machine (owners 0..W−1, W = ⌈n/B⌉; machine W is the sort
  coordinator, so q = W + 1);
* round 2 (boundary): every owner sends its last token to the next owner, so each position j
  knows X_{j−1};
* rounds 3–6 (find¹, the MPC form of P2 Lemma D.2's lastOccurrence head): key records
  (X_{j−1}, j; X_j) for j ≥ 2 and queries (X_i, i), sorted by (key, position, class) so that a key
  record at j = i precedes the query at i (find allows j ≤ i); each query takes the last key
  record of its key before it (``CopyForwardSort``) and the answer goes back to the owner of i;
* ⌈log2 k⌉ lookups (the layers ℓ ≥ 3 of Thm 4.2, lookUp of Lemma D.1): each position holds
  F = find^{2^{t−1}} and A = X_P with P = find^{r_t}; lookup t reads at j = F(i) the pair
  (F(j), A(j)). Then F ← F(j) and, if bit c_t of k is 1, A ← A(j) (P ← P∘find^{2^{t−1}};
  compositions of find commute). Here k = r_0 + Σ_t c_t·2^{t−1} with r_0 = 1 and all c_t = 1 if
  k = 2^T, else r_0 = 0 and c = the bits of k. After T = ⌈log2 k⌉ lookups A = X_{find^k(i)}, or ⊥
  once a pointer is 0 (0 is absorbing). A lookup takes
  - ``lookup="direct"`` (default), 1 round, pipelined: the owner of j receives the request (j, i),
    replies (F(j), A(j)) to the owner of i, and forwards the next request (F(j), i) straight to
    the owner of F(j) = F_{t+1}(i), which serves it in the next round with its own state just
    updated by its replies. find¹'s last round emits the first requests. No machine is
    congested because every position is read by at most one other (below; checked);
  - ``lookup="sort"``, 4 rounds: requests (j, i) sorted together with data records (j, 0; F(j), A(j))
    by ``CopyForwardSort``, each request taking the data record before it, replies routed back.
    This is the general lookup that tolerates any number of readers per position;
* last round (output): the answers move to the output layout (the first ⌈n/s⌉ machines, in order).

So ``hop_rounds`` = 7 + ⌈log2 k⌉ (direct) or 7 + 4⌈log2 k⌉ (sort): one round per pointer-doubling
layer of P2 Thm 4.2. ``NaiveHopProtocol`` does find¹ and then k − 1 single-hop lookups
(P ← find¹(P)): 7 + (k − 1) or 7 + 4(k − 1) rounds.

Congestion: find¹ is injective on {i : find¹(i) ≠ 0}: if find¹(i₁) = find¹(i₂) = j with i₁ < i₂,
then X_{i₁} = X_{j−1} = X_{i₂}, so j' = i₁ + 1 ≤ i₂ is a later match for i₂, a contradiction.
Compositions of injective maps are injective, so every find^m is, and in every lookup each
position is read by at most one other: the direct lookup's receivers get ≤ B requests. (The sort
variant does not rely on this: it survives any number of readers per target.)

Words: tokens are ids in [0, alphabet_size); ⊥ is the word ``alphabet_size``; positions are
1..n; sort samples carry 2·position + class. So p = ⌈log2(max(2n + 2, alphabet_size + 1))⌉ bits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Sequence

import numpy as np

from mpcsim.config import MPCConfig, memory_for_delta, word_bits_for
from mpcsim.errors import ProtocolError
from mpcsim.protocol import ShardOutput, ShardView
from mpcsim.simulator import Result, Simulator

from .mpc_blocks import (
    RELAYOUT_ROUNDS, SORT_ROUNDS, TAG_WORDS, BlockLayout, CopyForwardSort, Inbox, Outbox, PlanError,
    Schedule, ScheduledProtocol, SortLayout, SortTags, Table, ceil_log2, psrs_bucket_bound, send_relayout,
)

_I64 = np.int64

# Message tags (one word at the head of every tagged message).
TAG_TOKENS, TAG_PREV, TAG_STATE, TAG_REPLY, TAG_REQUEST = 1, 2, 3, 4, 9
SORT_TAGS = SortTags(marked=5, query=6, sample=7, splitter=8)
MAX_TAG = 9

# Record widths in words.
FIND_MARKED_WIDTH = 3  # key record [X_{j−1}, j, X_j]
FIND_QUERY_WIDTH = 2  # query [X_i, i]
FIND_REPLY_WIDTH = 3  # reply to the owner of i: [i, find¹(i), X_{find¹(i)}]
REQUEST_WIDTH = 2  # lookup request [j, i]
MAX_PAYLOAD = 2  # a lookup reads at most two words of state (F and A)

PREP_ROUNDS = 2  # spread + boundary
FIND_ROUNDS = SORT_ROUNDS  # find¹ is one CopyForwardSort
OUTPUT_ROUNDS = RELAYOUT_ROUNDS  # answers to the output layout
LOOKUP_ROUNDS = {"direct": 1, "sort": SORT_ROUNDS}  # serve-and-forward, or a CopyForwardSort


def hop_rounds(n: int, k: int, s: int, q: int, lookup: str = "direct") -> int:
    """Exact rounds of ``HopProtocol``: 0 if k = 0 or n = 0 (hop_0 is the identity and the input
    layout is already the output layout), else
    2 (spread, boundary) + 4 (find¹) + L·⌈log2 k⌉ (lookups) + 1 (output) = 7 + L·⌈log2 k⌉,
    with L = 1 for ``lookup="direct"`` and 4 for ``"sort"``. In n and δ: none, see below.

    The count depends on k only: every n and δ at which the single-level sort fits runs the same
    phases. That needs s ≥ ``HopPlan.min_memory(n)`` ≈ 8.5·n^{2/3} words, i.e. δ ≥ 2/3 + 2.1/ln n
    (n = 10^4: s ≥ 4049, δ ≥ 0.90; 10^5: 18336, 0.85; 10^6: 84215, 0.82), because the coordinator
    holds ~2W² samples while W ≈ 14n/s owners share the records. Smaller δ would need a multi-level
    sort (more rounds per sort, O(1/δ)). (s, q) are checked, not used: s must fit the plan
    (``PlanError`` otherwise), q ≥ 1."""
    return _rounds(n, k, s, q, lookup, HopProtocol.STATE_WIDTH, ceil_log2(k) if k >= 1 else 0)


def naive_hop_rounds(n: int, k: int, s: int, q: int, lookup: str = "direct") -> int:
    """Exact rounds of ``NaiveHopProtocol``: 0 if k = 0 or n = 0, else 7 + L·(k − 1)."""
    return _rounds(n, k, s, q, lookup, NaiveHopProtocol.STATE_WIDTH, k - 1)


def _rounds(n: int, k: int, s: int, q: int, lookup: str, state_width: int, lookups: int) -> int:
    _check_counts(n, k)
    _check_lookup(lookup)
    if q < 1:
        raise ValueError(f"q must be >= 1, got {q}")
    if n == 0 or k == 0:
        return 0
    HopPlan.choose(n, s, state_width, MAX_PAYLOAD, lookup if lookups else None)
    return PREP_ROUNDS + FIND_ROUNDS + LOOKUP_ROUNDS[lookup] * lookups + OUTPUT_ROUNDS


def _check_lookup(lookup: str) -> None:
    if lookup not in LOOKUP_ROUNDS:
        raise ValueError(f"lookup must be one of {sorted(LOOKUP_ROUNDS)}, got {lookup!r}")


def _check_counts(n: int, k: int) -> None:
    for name, v in (("n", n), ("k", k)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")


# ---- memory plan ---------------------------------------------------------------------------------
def round_words(n: int, block, state_width: int, payload: int = MAX_PAYLOAD,
                lookup: str | None = "direct") -> dict[str, np.ndarray]:
    """Upper bounds on the words one machine holds or sends in each kind of round, by name, for
    owner blocks ``block`` (a scalar or an array of candidates) and lookups of kind ``lookup``
    (None: no lookups). Each term adds what that machine holds or sends in that round, one tag
    word (h) per message included; the protocol's plan takes the largest."""
    b = np.asarray(block, dtype=_I64)
    w = -(-n // b)  # owners
    h = TAG_WORDS
    tokens, prev, state = b + h, 1 + h, state_width * b + h
    spl = np.where(w > 1, 2 * (w - 1) + h, 0)

    def sort_terms(widths: tuple[int, int], weights: tuple[int, int], reply_width: int, answers: int):
        """A CopyForwardSort of one marked and one query record per position (``widths`` words,
        ``weights``), whose queries are answered by ``answers`` kinds of messages (replies of
        ``reply_width`` words to owners, and forwarded requests); weight ≥ words in and out."""
        max_weight = sum(weights) * b
        gap = np.maximum(np.maximum(-(-max_weight // w), max(weights)), 1)
        bucket = psrs_bucket_bound(sum(weights) * n, max_weight, w, max(weights))
        return dict(
            records=sum(widths) * b + 2 * h,
            samples=2 * (max_weight // gap) + h,
            # each bucket: a marked, a query and a carry message; ≤ W − 1 carries
            route_out=sum(widths) * b + 3 * w * h + (w - 1) * widths[0],
            bucket_in=bucket + 3 * w * h + w * widths[0],
            answers_out=bucket + answers * w * h,
            replies_in=reply_width * b + w * h,
        )

    forward = lookup == "direct"  # find¹'s last round also sends the first lookup's requests
    f = sort_terms((FIND_MARKED_WIDTH, FIND_QUERY_WIDTH), find_weights(forward), FIND_REPLY_WIDTH, 1 + forward)
    terms = {
        "spread: an owner receives its block": b,
        "boundary: sent": tokens + prev,
        "find1 sample: sent": tokens + f["records"] + f["samples"],
        "find1 split: held": tokens + f["records"],
        "find1 route: held": tokens + f["records"] + spl,
        "find1 route: sent": tokens + f["route_out"],
        "find1 resolve: a bucket holds": tokens + f["bucket_in"],
        "find1 resolve: a bucket answers": tokens + f["answers_out"],
        "after find1: replies held": tokens + f["replies_in"],
        "coordinator: samples held": w * f["samples"],
        "coordinator: splitters sent": w * spl,
    }
    if lookup == "sort":
        lk = sort_terms((2 + payload, REQUEST_WIDTH), lookup_weights(payload), 1 + payload, 1)
        terms.update({
            "lookup sample: held": state + lk["replies_in"],
            "lookup sample: sent": state + lk["records"] + lk["samples"],
            "lookup route: held": state + lk["records"] + spl,
            "lookup route: sent": state + lk["route_out"],
            "lookup resolve: a bucket holds": state + lk["bucket_in"],
            "lookup resolve: a bucket answers": state + lk["answers_out"],
            "coordinator: lookup samples held": w * lk["samples"],
        })
    elif lookup == "direct":
        # ≤ B requests in (distinct targets) and ≤ B forwarded out; ≤ B replies in and out
        requests = REQUEST_WIDTH * b + w * h
        replies = (1 + payload) * b + w * h
        terms.update({
            "first lookup: held": tokens + f["replies_in"] + requests,
            "lookup: held or sent": state + replies + requests,
        })
    return terms


def find_weights(forward: bool) -> tuple[int, int]:
    """(marked, query) weights of find¹'s sort: a query is answered by a reply [i, j, X_j] and,
    when the direct lookup follows, a forwarded request [j, i]."""
    return FIND_MARKED_WIDTH, max(FIND_QUERY_WIDTH, FIND_REPLY_WIDTH + forward * REQUEST_WIDTH)


def lookup_weights(payload: int) -> tuple[int, int]:
    """(data record, request) weights of a sorted lookup: a request is answered by [i, payload]."""
    return 2 + payload, max(REQUEST_WIDTH, 1 + payload)


@dataclass(frozen=True)
class HopPlan:
    """How ``HopProtocol`` (and the naive variant) lays out n positions in machines of s words.

    ``block`` (B) positions per owner, ``owners`` (W = ⌈n/B⌉) owner machines, one coordinator
    (machine W), q = W + 1. B is the largest block for which every round fits (``round_words``):
    per owner its state (B tokens, or ``state_width``·B words), its sort records (5B words for
    find¹, (4 + payload)·B for a sorted lookup), samples and splitters (2W words each), and as a
    bucket up to ``psrs_bucket_bound`` (≈ twice its records' weight, where a query weighs the
    words of its answers) plus W carries and one tag word per message; a direct lookup moves
    ≤ 2B request and ≤ (1 + payload)·B reply words each way; the coordinator holds ≈ 2W² sample
    words. ``worst`` is the largest of these, ≤ s by construction (the simulator checks the
    real numbers every round)."""

    n: int
    s: int
    block: int
    owners: int
    state_width: int
    payload: int
    lookup: str | None
    worst: int

    @property
    def q(self) -> int:
        return self.owners + 1

    @property
    def coordinator(self) -> int:
        return self.owners

    def sort_layout(self, weights: tuple[int, int], seg_limit: int) -> SortLayout:
        """A sort of one marked and one query record (of these weights) per position."""
        return SortLayout(
            workers=self.owners, coordinator=self.coordinator, max_weight=sum(weights) * self.block,
            total_weight=sum(weights) * self.n, max_record_weight=max(weights), seg_limit=seg_limit,
            pos_limit=self.n + 1,
        )

    @staticmethod
    def _worst(n: int, blocks, state_width: int, payload: int, lookup: str | None) -> np.ndarray:
        return np.maximum.reduce(list(round_words(n, blocks, state_width, payload, lookup).values()))

    @classmethod
    def choose(cls, n: int, s: int, state_width: int, payload: int = MAX_PAYLOAD,
               lookup: str | None = "direct") -> "HopPlan":
        """The plan with the largest block that fits in s words; ``PlanError`` names the memory
        (and δ) that would fit when none does."""
        if n < 1:
            raise ValueError(f"HopPlan needs n >= 1, got {n}")
        # every round holds more than 6B words (the find¹ SAMPLE round: B tokens + 5B of records)
        blocks = np.arange(1, min(n, s // 6 + 1) + 1, dtype=_I64)
        worst = cls._worst(n, blocks, state_width, payload, lookup)
        fits = np.flatnonzero(worst <= s)
        if len(fits) == 0:
            need, best = cls.min_memory(n, state_width, payload, lookup)
            terms = round_words(n, best, state_width, payload, lookup)
            binding = max(terms, key=lambda name: int(terms[name]))
            raise PlanError(
                f"n = {n} positions need local memory s >= {need} words, got s = {s}. At best, blocks of {best} "
                f"positions on {-(-n // best)} owners, and the largest round is '{binding}' ({int(terms[binding])} "
                f"words; the single-level sample sort also needs ~2W² words on its coordinator). "
                f"{_memory_advice(n, need)} (got s = {s}, i.e. δ = {_delta(n, s):.3f} at c = 1)"
            )
        b = int(blocks[fits[-1]])
        return cls(n, s, b, -(-n // b), state_width, payload, lookup, int(worst[fits[-1]]))

    @staticmethod
    @lru_cache(maxsize=256)
    def min_memory(n: int, state_width: int, payload: int = MAX_PAYLOAD,
                   lookup: str | None = "direct") -> tuple[int, int]:
        """(smallest s that fits, the block it uses) — the min over blocks of the worst round.

        For a fixed owner count W every term grows with B, so only the smallest block giving each W,
        B = ⌈n/W⌉, is a candidate (at most 2√n distinct values)."""
        n = max(n, 1)
        blocks = np.unique(-(-n // np.arange(1, n + 1, dtype=_I64)))
        worst = HopPlan._worst(n, blocks, state_width, payload, lookup)
        i = int(np.argmin(worst))
        return int(worst[i]), int(blocks[i])


def _delta(n: int, s: int) -> float:
    return math.log(s) / math.log(n) if n > 1 else 1.0


def _memory_advice(n: int, need: int) -> str:
    """How to ask for ``need`` words with s = ⌈n^δ⌉·c, δ ≤ 1: the δ at c = 1, else the c at δ = 1."""
    if n > 1 and need <= n:
        delta = math.ceil(_delta(n, need) * 1000) / 1000  # rounded up, so the suggestion itself fits
        return f"With s = ⌈n^δ⌉·c: δ >= {delta:.3f} at c = 1, or --memory {need}"
    return f"No δ <= 1 reaches that at c = 1 (n^1 = {n}): use δ = 1 with c >= {-(-need // max(n, 1))}, or --memory {need}"


# ---- the protocols -------------------------------------------------------------------------------
def _index_of(round: int, what: str, positions: np.ndarray, receiver: np.ndarray, held: np.ndarray,
              holder: np.ndarray) -> np.ndarray:
    """Row indices of ``positions`` among the consecutive positions ``held`` (held by ``holder``);
    raises if a message about a position reached a machine that does not hold it."""
    idx = positions - (held[0] if len(held) else 0)
    bad = (idx < 0) | (idx >= len(held))
    if not bad.any():
        bad = holder[idx] != receiver
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise ProtocolError(f"round {round}, machine {int(receiver[at])}: received a {what} for position "
                            f"{int(positions[at])}, which it does not hold")
    return idx


class _HopBase(ScheduledProtocol):
    """Phases shared by the hop_k protocols: spread, boundary, find¹, lookups, output.

    A subclass says how many lookups it makes and, per lookup, which pointer it follows, what a
    position offers as data and how a reply updates its state (``STATE_WIDTH`` words per position).
    """

    STATE_WIDTH: ClassVar[int]

    def __init__(self, n: int, alphabet_size: int, k: int, *, memory: int | None = None,
                 delta: float | None = None, c: int = 1, lookup: str = "direct"):
        _check_counts(n, k)
        _check_lookup(lookup)
        if not isinstance(alphabet_size, (int, np.integer)) or isinstance(alphabet_size, bool) or alphabet_size < 1:
            raise ValueError(f"alphabet_size must be an integer >= 1, got {alphabet_size!r}")
        self.n, self.alphabet_size, self.k, self.lookup = int(n), int(alphabet_size), int(k), lookup
        self.bottom = self.alphabet_size  # the word for ⊥
        active = n > 0 and k > 0
        self.steps = self._num_lookups() if active else 0
        plan_lookup = lookup if self.steps else None
        if memory is not None:
            s = int(memory)
        elif delta is not None:
            s = memory_for_delta(n, delta, c)
        elif active:
            s = HopPlan.min_memory(n, self.STATE_WIDTH, MAX_PAYLOAD, plan_lookup)[0]
        else:
            s = max(n, 1)
        if s < 1:
            raise ValueError(f"memory must be >= 1 word, got {s}")
        self.delta = delta if delta is not None else _delta(n, s)
        self.plan = HopPlan.choose(n, s, self.STATE_WIDTH, MAX_PAYLOAD, plan_lookup) if active else None
        q = self.plan.q if self.plan else max(1, -(-n // s))
        self.config = MPCConfig(n=self.n, q=q, s=s,
                                word_bits=word_bits_for(max(2 * n + 1, self.alphabet_size, MAX_TAG)))
        self._io = BlockLayout(self.n, s)
        self.schedule = Schedule(())
        if active:
            self._owners = BlockLayout(self.n, self.plan.block)
            fw = find_weights(lookup == "direct" and self.steps > 0)
            self._find = CopyForwardSort(self.plan.sort_layout(fw, self.alphabet_size),
                                         FIND_MARKED_WIDTH, FIND_QUERY_WIDTH, SORT_TAGS, *fw)
            lw = lookup_weights(MAX_PAYLOAD)
            lookup_layout = self.plan.sort_layout(lw, self.n + 1)
            self._lookup_sorts = [
                CopyForwardSort(lookup_layout, 2 + len(self._payload_columns(t)), REQUEST_WIDTH, SORT_TAGS, *lw)
                for t in range(1, self.steps + 1)
            ]
            self.schedule = Schedule(
                (("spread", 1), ("boundary", 1), ("find1", FIND_ROUNDS))
                + (("lookup", LOOKUP_ROUNDS[lookup]),) * self.steps
                + (("output", OUTPUT_ROUNDS),)
            )
        self.expected_rounds = self.schedule.total

    # -- hooks ------------------------------------------------------------------------------------
    def _num_lookups(self) -> int:
        raise NotImplementedError

    def _init_state(self, x: np.ndarray, j: np.ndarray, xj: np.ndarray) -> np.ndarray:
        """State rows from X_i, find¹(i) and X_{find¹(i)} (⊥ where find¹(i) = 0)."""
        raise NotImplementedError

    def _target(self, state: np.ndarray) -> np.ndarray:
        """The position each position reads in a lookup (0: no read)."""
        raise NotImplementedError

    def _payload_columns(self, t: int) -> list[int]:
        """The state columns a position offers as data in lookup t."""
        raise NotImplementedError

    def _chain(self, state: np.ndarray) -> np.ndarray:
        """Where a reader of each position reads next (the direct lookup forwards there): the new
        target of i after reading j is chain(j)."""
        raise NotImplementedError

    def _update(self, t: int, state: np.ndarray, has: np.ndarray, data: np.ndarray) -> np.ndarray:
        """New state after lookup t; ``has``: whether a reply came, ``data``: the target's payload."""
        raise NotImplementedError

    def _answer(self, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- Protocol ---------------------------------------------------------------------------------
    def run_phase(self, round: int, index: int, name: str, offset: int, inbox: Inbox, out: Outbox) -> None:
        if name == "spread":
            self._spread(round, inbox, out)
        elif name == "boundary":
            self._boundary(round, inbox, out)
        elif name == "find1":
            self._find1(round, offset, inbox, out)
        elif name == "lookup":
            self._lookup(round, index - 2, offset, inbox, out)
        else:
            self._output(round, inbox, out)

    def output(self, view: ShardView) -> ShardOutput:
        """The answers sit untagged in the first ⌈n/s⌉ machines, in order (P2 Def. 2.3)."""
        return ShardOutput.from_memory(view)

    def decode_output(self, words) -> list[int | None]:
        """Token ids, None for ⊥."""
        words = np.asarray(words)
        out: list[int | None] = words.tolist()
        for i in np.flatnonzero(words == self.bottom).tolist():
            out[i] = None
        return out

    # -- phases -----------------------------------------------------------------------------------
    def _spread(self, round: int, inbox: Inbox, out: Outbox) -> None:
        """Round 1: input layout (blocks of s) → working layout (blocks of B), untagged."""
        raw = inbox.raw()
        pos = self._held(round, self._io, inbox.view.lo, min(inbox.view.hi, self._io.machines), raw)
        send_relayout(out, raw.rows[:, 0], pos, raw.machine, self._owners)

    def _held(self, round: int, layout: BlockLayout, lo: int, hi: int, table: Table) -> np.ndarray:
        try:
            return layout.held_positions(table.machine, lo, max(lo, hi))
        except ValueError as exc:
            raise ProtocolError(f"round {round}: {exc} (blocks of {layout.block} positions)") from None

    def _owned(self, round: int, view: ShardView, table: Table) -> np.ndarray:
        """Positions of rows that owners hold in position order; checks that the shard's owners
        hold exactly their blocks."""
        return self._held(round, self._owners, view.lo, min(view.hi, self.plan.owners), table)

    def _boundary(self, round: int, inbox: Inbox, out: Outbox) -> None:
        """Round 2: keep the tokens; send the block's last token to the next owner (X_{j−1})."""
        raw = inbox.raw()
        pos = self._owned(round, inbox.view, raw)
        out.keep(TAG_TOKENS, raw)
        last = (pos % self.plan.block == 0) & (pos < self.n)
        out.send(TAG_PREV, raw.machine[last], raw.machine[last] + 1, raw.rows[last])

    def _find1(self, round: int, offset: int, inbox: Inbox, out: Outbox) -> None:
        """Rounds 3–6: find¹ by ``CopyForwardSort`` (P2 Lemma D.2 analogue); replies to owners."""
        tokens = inbox.table(TAG_TOKENS, 1)
        out.keep(TAG_TOKENS, tokens)
        sort = self._find
        if offset == 0:
            pos, x = self._owned(round, inbox.view, tokens), tokens.rows[:, 0]
            prev = inbox.table(TAG_PREV, 1)  # one row per owner but the first, from the owner before
            x_prev = np.empty_like(x)
            x_prev[1:] = x[:-1]  # inside a block, X_{j−1} is the owner's own token
            starts = np.flatnonzero((pos - 1) % self.plan.block == 0)
            keyed = pos >= 2
            need = starts[keyed[starts]]
            if not np.array_equal(prev.machine, tokens.machine[need]):
                raise ProtocolError(f"round {round}: owners {tokens.machine[need].tolist()[:8]} expected the previous "
                                    f"block's last token, got it at {prev.machine.tolist()[:8]}")
            x_prev[need] = prev.rows[:, 0]
            marked = Table(tokens.machine[keyed], np.stack([x_prev, pos, x], axis=1)[keyed])
            sort.sample(out, marked, Table(tokens.machine, np.stack([x, pos], axis=1)), round)
        elif (m := sort.advance(offset, inbox, out, round)) is not None:
            i = m.query[:, 1]
            j = np.where(m.found, m.marked[:, 1], 0)
            xj = np.where(m.found, m.marked[:, 2], self.bottom)
            out.send(TAG_REPLY, m.machine, self._owners.owner(i), np.stack([i, j, xj], axis=1))
            if self.lookup == "direct" and self.steps:  # the first lookup's requests (j, i), j = find¹(i)
                out.send(TAG_REQUEST, m.machine[m.found], self._owners.owner(j[m.found]),
                         np.stack([j, i], axis=1)[m.found])

    def _state_after(self, round: int, step: int, inbox: Inbox) -> tuple[Table, np.ndarray]:
        """At the start of lookup ``step`` + 1 (or of the output): the state after find¹ (step 0)
        or after lookup ``step``, from the kept state and the replies just received; and the
        positions of its rows."""
        if step == 0:
            tokens = inbox.table(TAG_TOKENS, 1)
            pos = self._owned(round, inbox.view, tokens)
            has, data = self._replies(round, inbox, tokens, pos, FIND_REPLY_WIDTH)
            if not has.all():
                raise ProtocolError(f"round {round}: find¹ replies missing for {int((~has).sum())} positions")
            return Table(tokens.machine, self._init_state(tokens.rows[:, 0], data[:, 0], data[:, 1])), pos
        state = inbox.table(TAG_STATE, self.STATE_WIDTH)
        pos = self._owned(round, inbox.view, state)
        has, data = self._replies(round, inbox, state, pos, 1 + len(self._payload_columns(step)))
        asked = self._target(state.rows) != 0
        if np.any(has != asked):
            bad = int(state.machine[np.flatnonzero(has != asked)[0]])
            raise ProtocolError(f"round {round}, machine {bad}: lookup replies do not match its requests")
        return Table(state.machine, self._update(step, state.rows, has, data)), pos

    def _replies(self, round: int, inbox: Inbox, held: Table, pos: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Replies [i, data…] scattered onto the rows of ``held`` (at positions ``pos``)."""
        rep = inbox.table(TAG_REPLY, width)
        has = np.zeros(len(pos), dtype=bool)
        data = np.zeros((len(pos), width - 1), dtype=_I64)
        if len(rep):
            idx = _index_of(round, "reply", rep.rows[:, 0], rep.machine, pos, held.machine)
            has[idx] = True
            if int(has.sum()) != len(idx):
                raise ProtocolError(f"round {round}: two replies for one position")
            data[idx] = rep.rows[:, 1:]
        return has, data

    def _lookup(self, round: int, t: int, offset: int, inbox: Inbox, out: Outbox) -> None:
        """Lookup t (1-based): every live position i reads the payload of position target(i).
        The first round of either kind applies the previous phase's replies."""
        if offset == 0:
            state, pos = self._state_after(round, t - 1, inbox)
            out.keep(TAG_STATE, state)
            if self.lookup == "direct":
                self._serve(round, t, inbox, state, pos, out)
                return
            target = self._target(state.rows)
            live = target != 0
            requests = Table(state.machine[live], np.stack([target[live], pos[live]], axis=1))
            # data record [j, 0, payload]: key (j, 0) precedes every request (j, i ≥ 1)
            data = np.concatenate([pos[:, None], np.zeros((len(pos), 1), _I64),
                                   state.rows[:, self._payload_columns(t)]], axis=1)
            self._lookup_sorts[t - 1].sample(out, Table(state.machine, data), requests, round)
            return
        out.keep(TAG_STATE, inbox.table(TAG_STATE, self.STATE_WIDTH))
        m = self._lookup_sorts[t - 1].advance(offset, inbox, out, round)
        if m is not None:
            if not m.found.all():
                j = int(m.query[np.flatnonzero(~m.found)[0], 0])
                raise ProtocolError(f"round {round}: lookup {t} found no data record for position {j}")
            i = m.query[:, 1]
            out.send(TAG_REPLY, m.machine, self._owners.owner(i),
                     np.concatenate([i[:, None], m.marked[:, 2:]], axis=1))

    def _serve(self, round: int, t: int, inbox: Inbox, state: Table, pos: np.ndarray, out: Outbox) -> None:
        """Direct lookup t: the owner of j answers each request (j, i) with j's payload and, unless
        t is the last lookup, forwards i's next request (chain(j), i) to the owner of chain(j)."""
        req = inbox.table(TAG_REQUEST, REQUEST_WIDTH)
        if len(req) == 0:
            return
        idx = _index_of(round, "lookup request", req.rows[:, 0], req.machine, pos, state.machine)
        count = np.bincount(idx, minlength=len(pos))
        if count.max() > 1:
            j = int(pos[int(count.argmax())])
            raise ProtocolError(
                f"round {round}, machine {int(self._owners.owner(j))}: position {j} was requested {int(count.max())} "
                f"times; the direct lookup needs distinct targets (find^m is injective on nonzero values), "
                f"use lookup='sort' for shared targets"
            )
        i = req.rows[:, 1]
        payload = state.rows[:, self._payload_columns(t)][idx]
        out.send(TAG_REPLY, req.machine, self._owners.owner(i), np.concatenate([i[:, None], payload], axis=1))
        if t < self.steps:
            nxt = self._chain(state.rows)[idx]
            go = nxt != 0
            out.send(TAG_REQUEST, req.machine[go], self._owners.owner(nxt[go]), np.stack([nxt, i], axis=1)[go])

    def _output(self, round: int, inbox: Inbox, out: Outbox) -> None:
        """Last round: answers to the output layout (untagged, in order)."""
        state, pos = self._state_after(round, self.steps, inbox)
        send_relayout(out, self._answer(state.rows), pos, state.machine, self._io)


class HopProtocol(_HopBase):
    """hop_k by pointer doubling in ``hop_rounds`` = 7 + ⌈log2 k⌉ rounds (7 + 4⌈log2 k⌉ with
    ``lookup="sort"``): P2 Thm 4.2's layer scheme on MPC machines (see the module doc).

    State per position: [F, A] with F = find^{2^{t−1}}(i) and A = X_{P(i)}, P = find^{r_t}(i)."""

    STATE_WIDTH = 2
    _F, _A = 0, 1

    def __init__(self, n: int, alphabet_size: int, k: int, *, memory: int | None = None,
                 delta: float | None = None, c: int = 1, lookup: str = "direct"):
        _check_counts(n, k)
        self.T = ceil_log2(k) if k >= 1 else 0
        self.r0 = 1 if k >= 1 and k & (k - 1) == 0 else 0
        super().__init__(n, alphabet_size, k, memory=memory, delta=delta, c=c, lookup=lookup)

    def bit(self, t: int) -> int:
        """c_t, with k = r_0 + Σ_{t=1..T} c_t·2^{t−1}."""
        return ((self.k - self.r0) >> (t - 1)) & 1

    def _num_lookups(self) -> int:
        return self.T

    def _init_state(self, x, j, xj):
        return np.stack([j, xj if self.r0 else x], axis=1)

    def _target(self, state):
        return state[:, self._F]

    def _chain(self, state):  # F_{t+1}(i) = F_t(F_t(i))
        return state[:, self._F]

    def _payload_columns(self, t):
        return ([self._F] if t < self.T else []) + ([self._A] if self.bit(t) else [])

    def _update(self, t, state, has, data):
        new = state.copy()
        col = 0
        if t < self.T:
            new[:, self._F] = np.where(has, data[:, col], 0)
            col += 1
        if self.bit(t):
            new[:, self._A] = np.where(has, data[:, col], self.bottom)
        return new

    def _answer(self, state):
        return state[:, self._A]


class NaiveHopProtocol(_HopBase):
    """hop_k by k single hops: find¹, then k − 1 lookups P ← find¹(P) (``naive_hop_rounds``).

    State per position: [F, X_F, P, A] with F = find¹(i), P = find^m(i), A = X_P."""

    STATE_WIDTH = 4
    _F, _XF, _P, _A = 0, 1, 2, 3

    def _num_lookups(self) -> int:
        return self.k - 1

    def _init_state(self, x, j, xj):
        return np.stack([j, xj, j, xj], axis=1)

    def _target(self, state):
        return state[:, self._P]

    def _chain(self, state):  # P_{m+1}(i) = find¹(P_m(i))
        return state[:, self._F]

    def _payload_columns(self, t):
        return [self._F, self._XF]

    def _update(self, t, state, has, data):
        new = state.copy()
        new[:, self._P] = np.where(has, data[:, 0], 0)
        new[:, self._A] = np.where(has, data[:, 1], self.bottom)
        return new

    def _answer(self, state):
        return state[:, self._A]


def run_hop(tokens: Sequence[int], k: int, *, alphabet_size: int | None = None, delta: float | None = None,
            memory: int | None = None, c: int = 1, naive: bool = False, backend=None, strict: bool = True,
            progress: bool = False, lookup: str = "direct") -> tuple[list[int | None], Result, _HopBase]:
    """Run the hop_k protocol on ``tokens`` (ids in [0, alphabet_size), default max + 1); returns
    (hop_k(X) with None for ⊥, the simulator's Result, the protocol). Memory: ``memory`` words,
    else ⌈n^δ⌉·c, else the smallest that fits."""
    x = np.asarray(tokens if isinstance(tokens, np.ndarray) else list(tokens), dtype=_I64).reshape(-1)
    if alphabet_size is None:
        alphabet_size = int(x.max()) + 1 if len(x) else 1
    if len(x) and (x.min() < 0 or x.max() >= alphabet_size):
        raise ValueError(f"tokens must lie in [0, {alphabet_size}); got {int(x.min())}..{int(x.max())}")
    cls = NaiveHopProtocol if naive else HopProtocol
    protocol = cls(len(x), alphabet_size, k, memory=memory, delta=delta, c=c, lookup=lookup)
    sim = Simulator(backend, strict=strict, progress=progress, max_rounds=max(protocol.expected_rounds, 1))
    result = sim.run(protocol, x)
    return result.output, result, protocol


__all__ = [
    "HopPlan", "HopProtocol", "NaiveHopProtocol", "hop_rounds", "naive_hop_rounds", "round_words", "run_hop",
]
