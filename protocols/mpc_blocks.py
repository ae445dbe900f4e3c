"""MPC building blocks, written as round-level phases of a protocol's state machine (P2 Def. 2.3;
THEORY.md a.3).

A protocol built from these blocks dispatches on the round number (``Schedule``) to the phase
that runs in that round; every phase costs a fixed number of rounds, so the protocol's round count
is a formula. The blocks, each usable alone:

* ``Table`` / ``Inbox`` / ``Outbox`` — a machine's memory as typed record tables. A tagged message
  is ``[tag, row_1 …, row_2 …, …]`` (one tag word, then rows of a width the phase knows), so one
  round's memory can hold several kinds of records. Nothing persists between rounds in the MPC
  model, so data a machine keeps is re-sent to itself (``Outbox.keep``) and counts toward its
  ≤ s words sent and received.
* ``BlockLayout`` — positions 1..n in consecutive blocks (the input layout of Def. 2.3 is the
  block layout with blocks of s words); ``send_relayout`` moves one word per position from one
  layout to another in one round ("route results back to owners" in its simplest form).
* ``CopyForwardSort`` — a sample sort by regular sampling (PSRS: Shi & Schaeffer 1992; the
  weighted version below) fused with a segmented "copy forward the last marked record" scan:
  every query record receives the last marked record of its segment at or before it in sort
  order. ``SORT_ROUNDS = 4`` rounds (sample, split, route, resolve). This is the MPC analogue
  of the lastOccurrence head of P2 Lemma D.2 and of a congestion-free lookUp (Lemma D.1).
* ``psrs_bucket_bound`` — the proven bound on the weight (words in, and words of answers out)
  any bucket receives; protocols size their memory with it, and ``PlanError`` says which memory
  or δ would fit when it cannot.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mpcsim.errors import ProtocolError
from mpcsim.messages import Messages
from mpcsim.protocol import Protocol, ShardView, Step

_I64 = np.int64
TAG_WORDS = 1  # a tagged message spends one word on its tag
SORT_ROUNDS = 4  # CopyForwardSort: sample, split, route, resolve
RELAYOUT_ROUNDS = 1  # send_relayout: one round of direct sends


class PlanError(ValueError):
    """A protocol's parameters cannot work within the MPC limits (the message names the limit and
    the memory or δ that would fit)."""


# ---- 1. Records as tagged tables --------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Table:
    """R rows of equal width, and for each row the machine that holds (or sends) it."""

    machine: np.ndarray  # (R,) int64
    rows: np.ndarray  # (R, width) int64

    @staticmethod
    def of(machine, rows, width: int | None = None) -> "Table":
        rows = np.asarray(rows, dtype=_I64)
        if rows.ndim == 1:
            rows = rows.reshape(-1, 1 if width is None else width)
        return Table(np.asarray(machine, dtype=_I64).reshape(-1), rows)

    @staticmethod
    def empty(width: int) -> "Table":
        return Table(np.zeros(0, _I64), np.zeros((0, width), _I64))

    def __len__(self) -> int:
        return len(self.machine)

    @property
    def width(self) -> int:
        return self.rows.shape[1]

    def take(self, idx) -> "Table":
        return Table(self.machine[idx], self.rows[idx])


_LOOP_RUNS = 2048  # up to this many runs, copying run by run (memcpy) beats one fancy-indexed gather
_BINCOUNT_PAIRS = 1 << 22  # (src, dst) pairs counted with one bincount when there are at most this many


def _gather_runs(words: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """words[starts[m] : starts[m] + sizes[m]] for every m, concatenated."""
    if len(starts) <= _LOOP_RUNS:
        a, b = starts.tolist(), (starts + sizes).tolist()
        return np.concatenate([words[x:y] for x, y in zip(a, b)]) if a else np.zeros(0, _I64)
    total = int(sizes.sum())
    ends = np.cumsum(sizes)
    return words[np.repeat(starts - (ends - sizes), sizes) + np.arange(total, dtype=_I64)]


def stable_order(keys: np.ndarray, limit: int) -> np.ndarray:
    """The stable sorting permutation of non-negative ``keys`` < ``limit``; 16-bit keys take
    numpy's radix sort (linear time), the rest its run-merging timsort."""
    if limit <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def _interleave_headers(tag: int, offsets: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Message words: message m is [tag] + its share of ``flat`` (sizes from ``offsets``)."""
    words = np.empty(int(offsets[-1]), dtype=_I64)
    if len(offsets) - 1 <= _LOOP_RUNS:
        o = offsets.tolist()
        d = 0
        for a, b in zip(o[:-1], o[1:]):
            words[a] = tag
            words[a + TAG_WORDS:b] = flat[d:d + b - a - TAG_WORDS]
            d += b - a - TAG_WORDS
        return words
    is_tag = np.zeros(len(words), dtype=bool)
    is_tag[offsets[:-1]] = True
    words[is_tag] = tag
    words[~is_tag] = flat
    return words


class Inbox:
    """A shard's memory (``ShardView``) read as tagged tables or as raw words."""

    def __init__(self, view: ShardView):
        self.view = view
        mem = view.memory
        sizes = mem.sizes
        self._sizes = sizes
        self._tags = np.full(len(sizes), -1, dtype=_I64)
        nonempty = np.flatnonzero(sizes > 0)
        self._tags[nonempty] = mem.words[mem.offsets[nonempty]]

    def table(self, tag: int, width: int) -> Table:
        """Every row tagged ``tag``, with the machine that holds it; rows keep memory order
        (machine, then source, then emission order)."""
        mem = self.view.memory
        sel = np.flatnonzero(self._tags == tag)
        if len(sel) == 0:
            return Table.empty(width)
        data = self._sizes[sel] - TAG_WORDS
        if np.any(data % width):
            m = int(sel[np.flatnonzero(data % width)[0]])
            raise ProtocolError(
                f"machine {int(mem.dst[m])}: a message tagged {tag} from machine {int(mem.src[m])} holds "
                f"{int(self._sizes[m]) - TAG_WORDS} words, not a multiple of the row width {width}"
            )
        words = _gather_runs(mem.words, mem.offsets[sel] + TAG_WORDS, data)
        return Table(np.repeat(mem.dst[sel], data // width), words.reshape(-1, width))

    def raw(self) -> Table:
        """Every word of memory as a one-column table (for untagged messages)."""
        mem = self.view.memory
        return Table(np.repeat(mem.dst, self._sizes), mem.words.reshape(-1, 1))


class Outbox:
    """Collects the messages a shard sends in one round: rows grouped into one message per
    (source, destination, tag), in the order the rows were given."""

    def __init__(self) -> None:
        self._parts: list[Messages] = []

    def send(self, tag: int | None, src, dst, rows) -> None:
        """Send row r from machine src[r] to machine dst[r] (``dst=None``: to itself);
        ``tag=None`` sends untagged words."""
        rows = np.asarray(rows, dtype=_I64)
        if rows.ndim == 1:
            rows = rows[:, None]
        if len(rows) == 0:
            return
        to_self = dst is None
        src = np.broadcast_to(np.asarray(src, dtype=_I64), (len(rows),))
        dst = src if to_self else np.broadcast_to(np.asarray(dst, dtype=_I64), (len(rows),))
        span = int(max(src.max(), dst.max())) + 1
        pair = src if to_self else src * span + dst
        if np.any(pair[1:] < pair[:-1]):
            order = stable_order(pair, span * span)
            rows, pair = rows[order], pair[order]
        if span * span <= _BINCOUNT_PAIRS:  # group sizes in one counting pass
            per_pair = np.bincount(pair, minlength=1)
            groups = np.flatnonzero(per_pair)
            counts = per_pair[groups]
        else:
            first = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1])))
            groups, counts = pair[first], np.diff(np.append(first, len(rows)))
        g_src, g_dst = (groups, groups) if to_self else (groups // span, groups % span)
        header = 0 if tag is None else TAG_WORDS
        sizes = counts * rows.shape[1] + header
        offsets = np.zeros(len(groups) + 1, dtype=_I64)
        np.cumsum(sizes, out=offsets[1:])
        words = _interleave_headers(tag, offsets, rows.reshape(-1)) if header else rows.reshape(-1).copy()
        self._parts.append(Messages(g_src, g_dst, offsets, words))

    def keep(self, tag: int, table: Table) -> None:
        """A machine keeps its rows by sending them to itself (nothing else persists, Def. 2.3)."""
        self.send(tag, table.machine, None, table.rows)

    def build(self) -> Messages:
        return Messages.concat(self._parts)


# ---- 2. Layouts and the round schedule ----------------------------------------------------------
@dataclass(frozen=True)
class BlockLayout:
    """Positions 1..n in consecutive blocks: machine ``first + (i-1)//block`` holds position i.
    With ``block = s`` this is the input and output layout of P2 Def. 2.3."""

    n: int
    block: int
    first: int = 0

    def __post_init__(self) -> None:
        if self.n < 0 or self.block < 1:
            raise ValueError(f"BlockLayout needs n >= 0 and block >= 1, got n={self.n}, block={self.block}")

    @property
    def machines(self) -> int:
        """⌈n/block⌉ machines (at least 1)."""
        return max(1, -(-self.n // self.block))

    def owner(self, positions) -> np.ndarray:
        """The machine holding each 1-indexed position."""
        return self.first + (np.asarray(positions, dtype=_I64) - 1) // self.block

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """The 1-indexed positions [p_lo, p_hi) held by machines lo..hi-1."""
        a = min(max(lo - self.first, 0) * self.block, self.n)
        b = min(max(hi - self.first, 0) * self.block, self.n)
        return a + 1, max(a, b) + 1

    def block_sizes(self, lo: int, hi: int) -> np.ndarray:
        """Positions held by each machine lo..hi-1 (0 outside the layout)."""
        start = (np.arange(lo, hi, dtype=_I64) - self.first) * self.block
        return np.clip(self.n - start, 0, self.block) * (start >= 0)

    def held_positions(self, machines: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """For rows held in position order by machines lo..hi-1 (``machines`` sorted, as
        ``Inbox.table`` returns them), each row's position. Raises ``ValueError`` unless every
        machine holds exactly its block."""
        machines = np.asarray(machines, dtype=_I64)
        counts = np.bincount(machines - lo, minlength=hi - lo) if len(machines) else np.zeros(hi - lo, _I64)
        if len(counts) > hi - lo:
            raise ValueError(f"machine {int(machines.max())} holds rows but is not among machines {lo}..{hi - 1}")
        expected = self.block_sizes(lo, hi)
        if np.any(counts != expected):
            bad = int(np.flatnonzero(counts != expected)[0])
            raise ValueError(f"machine {lo + bad} holds {int(counts[bad])} rows, its block has {int(expected[bad])}")
        p_lo, p_hi = self.span(lo, hi)
        return np.arange(p_lo, p_hi, dtype=_I64)


def send_relayout(out: Outbox, values: np.ndarray, positions: np.ndarray, holders: np.ndarray,
                  target: BlockLayout) -> None:
    """One round (``RELAYOUT_ROUNDS``): each holder sends the values of its positions, untagged, to
    their machines in ``target``. Sent in position order, so every receiver's memory is its
    block's values in order (memories are sorted by source, and blocks are ordered)."""
    out.send(None, holders, target.owner(positions), values)


@dataclass(frozen=True)
class Schedule:
    """A protocol's phases in order, each a (name, rounds) pair; ``locate`` maps a round number
    (1-based) to (phase index, name, offset within the phase), or None after the last round."""

    phases: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(r for _, r in self.phases)

    def locate(self, round: int) -> tuple[int, str, int] | None:
        start = 1
        for index, (name, rounds) in enumerate(self.phases):
            if round < start + rounds:
                return index, name, round - start
            start += rounds
        return None


class ScheduledProtocol(Protocol):
    """A protocol whose rounds follow a fixed ``Schedule`` (so its round count is a formula):
    ``local`` finds the phase of the round, hands the shard's memory (as an ``Inbox``) and an empty
    ``Outbox`` to ``run_phase``, and sends what was put in the outbox; after the last phase it halts."""

    schedule: Schedule

    def local(self, round: int, view: ShardView) -> Step:
        where = self.schedule.locate(round)
        if where is None:
            return Step.stop()
        index, name, offset = where
        out = Outbox()
        self.run_phase(round, index, name, offset, Inbox(view), out)
        return Step.send(out.build())

    def run_phase(self, round: int, index: int, name: str, offset: int, inbox: Inbox, out: Outbox) -> None:
        """Round ``round`` is round ``offset`` (0-based) of phase ``index`` called ``name``."""
        raise NotImplementedError


# ---- 3. Sample sort (PSRS) with a segmented copy-forward scan -----------------------------------
def psrs_bucket_bound(total_weight: int, max_weight: int, workers: int, max_record_weight: int) -> int:
    """Most weight one bucket can receive in ``CopyForwardSort`` (not counting the scan's carries).

    A record's weight is what it costs its bucket in words: its own words, or more when answering
    it costs more (so both what a bucket receives and what it sends back are bounded). Every
    worker holds ≤ L = ``max_weight``, N = ``total_weight`` in all, W = ``workers``;
    g = max(⌈L/W⌉, heaviest record). A worker sorts its records and sends as a sample each record
    whose running weight reaches a multiple of g (so ≤ ⌊L/g⌋ ≤ W samples); the coordinator sorts
    the S ≤ ⌊N/g⌋ samples and takes those of rank K, 2K, …, (W−1)K as splitters, K = ⌈S/W⌉.
    Proof of the bound: the records of one worker that fall in one bucket are consecutive in its
    sorted order, so a run of weight ω contains ≥ ⌊ω/g⌋ samples, all inside the bucket's key
    range, and that range holds ≤ K samples. Summing over workers, weight ≤ g·K + W·(g − 1), and
    never more than N. (With unit weights this is the classical PSRS bound ≈ 2N/W.) Works on
    numpy arrays too."""
    if np.any(np.asarray(workers) < 1) or np.any(np.asarray(max_weight) < 0) or np.any(np.asarray(total_weight) < 0):
        raise ValueError("psrs_bucket_bound needs workers >= 1 and non-negative weights")
    g = np.maximum(np.maximum(-(-max_weight // workers), max_record_weight), 1)
    k = -(-(total_weight // g) // workers)
    bound = np.minimum(total_weight, g * k + workers * (g - 1))
    return int(bound) if np.ndim(bound) == 0 else bound  # scalars in, int out; arrays in, array out


@dataclass(frozen=True)
class SortLayout:
    """Where and how much a ``CopyForwardSort`` sorts.

    workers: machines 0..W−1 hold the records and receive one bucket each; coordinator: the
    machine that collects samples and broadcasts splitters (not a worker); max_weight (L): record
    weight any worker holds before the sort; total_weight (N): over all workers;
    max_record_weight: the heaviest record (see ``psrs_bucket_bound`` for weights);
    seg_limit / pos_limit: a record's segment and position lie in [0, seg_limit) and
    [0, pos_limit). Sort keys are (segment, position, class) with class 0 for marked records and 1
    for queries; they must be distinct."""

    workers: int
    coordinator: int
    max_weight: int
    total_weight: int
    max_record_weight: int
    seg_limit: int
    pos_limit: int

    def __post_init__(self) -> None:
        if self.workers < 1 or self.coordinator < self.workers:
            raise ValueError(f"SortLayout: need workers >= 1 and a coordinator outside 0..{self.workers - 1}")
        if self.machine_key_limit >= 1 << 62:
            raise PlanError(
                f"sort keys (machine, segment, position, class) up to {self.machine_key_limit} do not fit in "
                f"62 bits ({self.coordinator + 1} machines, {self.seg_limit} segments, {self.pos_limit} positions)"
            )

    @property
    def gap(self) -> int:
        """g: one sample per g units of weight (see ``psrs_bucket_bound``)."""
        return max(-(-self.max_weight // self.workers), self.max_record_weight, 1)

    @property
    def key_limit(self) -> int:
        """Sort keys (segment, position, class) are < seg_limit·pos_limit·2."""
        return self.seg_limit * self.pos_limit * 2

    @property
    def machine_key_limit(self) -> int:
        """Keys made unique per machine, machine·key_limit + key, are below this."""
        return (self.coordinator + 1) * self.key_limit

    def machine_keys(self, machine: np.ndarray, key: np.ndarray) -> np.ndarray:
        return machine * self.key_limit + key

    @property
    def samples_per_worker(self) -> int:
        return self.max_weight // self.gap

    @property
    def bucket_weight(self) -> int:
        return psrs_bucket_bound(self.total_weight, self.max_weight, self.workers, self.max_record_weight)

    def coordinator_words(self) -> tuple[int, int]:
        """(words the coordinator holds, words it sends): 2-word samples in, 2-word splitters to
        every worker out, one tag word per message."""
        held = self.workers * (2 * self.samples_per_worker + TAG_WORDS)
        sent = self.workers * (2 * (self.workers - 1) + TAG_WORDS) if self.workers > 1 else 0
        return held, sent


@dataclass(frozen=True)
class SortTags:
    marked: int
    query: int
    sample: int
    splitter: int


@dataclass(frozen=True, eq=False)
class Matches:
    """The resolved queries of a ``CopyForwardSort``, one per query record: the bucket machine
    holding it, the query row, whether a marked record of its segment precedes it, and that
    record's row (zeros where ``found`` is False)."""

    machine: np.ndarray
    query: np.ndarray
    found: np.ndarray
    marked: np.ndarray


@dataclass(frozen=True)
class CopyForwardSort:
    """Sort marked records and query records by (segment, position, class) across the workers, and
    give every query the last marked record of its own segment at or before it in that order.

    Rows are ``[segment, position, payload…]`` (``marked_width`` and ``query_width`` words).
    A marked record with the same (segment, position) as a query sorts first. Four rounds:

    * SAMPLE (``sample``): each worker sorts its records and sends one 2-word sample
      ``[segment, 2·position + class]`` per g units of weight to the coordinator; it keeps its
      records. A record's weight is its width, or more (``marked_weight``, ``query_weight``) if
      answering it costs more words; the bucket bound then covers the answers too.
    * SPLIT (``split``): the coordinator sorts the samples and sends the W−1 splitters of rank
      K, 2K, … to every worker (2W² words at most: the single-level sort needs W² ≲ s).
    * ROUTE (``route``): every record goes to the bucket of its key. The scan's carry rides along:
      for each splitter σ_b, a worker also sends its last marked record ≤ σ_b *of σ_b's segment* to
      bucket b + 1 (≤ W−1 records sent and ≤ W received per machine). The maximum of these carries
      is exactly the last marked record of that segment before bucket b + 1, which is all a query
      of bucket b + 1 can need from earlier buckets (a query's segment either equals σ_b's or
      starts inside bucket b + 1). This folds the cross-machine scan into the routing round.
    * RESOLVE (``resolve``): each bucket sorts what it received and scans it locally.

    The bucket bound is ``psrs_bucket_bound``; the protocol adds the carries (W records) and its
    own state when it plans its memory."""

    layout: SortLayout
    marked_width: int
    query_width: int
    tags: SortTags
    marked_weight: int = 0  # 0: the record's width
    query_weight: int = 0  # e.g. the words of its answer, when those exceed its width
    ROUNDS: ClassVar[int] = SORT_ROUNDS

    def __post_init__(self) -> None:
        if min(self.marked_width, self.query_width) < 2:
            raise ValueError("records need at least the two key words [segment, position]")
        object.__setattr__(self, "marked_weight", max(self.marked_weight, self.marked_width))
        object.__setattr__(self, "query_weight", max(self.query_weight, self.query_width))
        if max(self.marked_weight, self.query_weight) > self.layout.max_record_weight:
            raise ValueError(f"records weigh more than the layout's max_record_weight = {self.layout.max_record_weight}")

    # -- keys ---------------------------------------------------------------------------------
    def keys(self, rows: np.ndarray, cls: int) -> np.ndarray:
        """(segment·pos_limit + position)·2 + class, the total order of the sort."""
        return (rows[:, 0] * self.layout.pos_limit + rows[:, 1]) * 2 + cls

    def _records(self, inbox: Inbox) -> tuple[Table, Table]:
        return inbox.table(self.tags.marked, self.marked_width), inbox.table(self.tags.query, self.query_width)

    # -- round 1: SAMPLE ----------------------------------------------------------------------
    def sample(self, out: Outbox, marked: Table, queries: Table, round: int = 0) -> None:
        """Sample each worker's records (regular sampling by weight) and keep the records, sorted."""
        lay = self.layout
        machine = np.concatenate([marked.machine, queries.machine])
        if len(machine) == 0:
            return
        if machine.min() < 0 or machine.max() >= lay.workers:
            raise ProtocolError(f"round {round}: sort records held outside the workers 0..{lay.workers - 1}")
        weight = np.bincount(marked.machine, minlength=lay.workers) * self.marked_weight \
            + np.bincount(queries.machine, minlength=lay.workers) * self.query_weight
        if weight.max() > lay.max_weight:
            m = int(weight.argmax())
            raise ProtocolError(
                f"round {round}, machine {m}: sort records of weight {int(weight[m])}; the plan allows "
                f"max_weight = {lay.max_weight}"
            )
        key = np.concatenate([self.keys(marked.rows, 0), self.keys(queries.rows, 1)])
        order = np.argsort(lay.machine_keys(machine, key), kind="stable")
        machine, key = machine[order], key[order]
        is_marked = order < len(marked)
        weight = np.where(is_marked, self.marked_weight, self.query_weight)
        running = np.cumsum(weight)
        first = np.flatnonzero(np.concatenate(([True], machine[1:] != machine[:-1])))
        running -= np.repeat(running[first] - weight[first], np.diff(np.append(first, len(machine))))
        g = lay.gap
        is_sample = running // g > (running - weight) // g
        sk = key[is_sample]
        seg, rank = sk // (2 * lay.pos_limit), sk % (2 * lay.pos_limit)
        out.send(self.tags.sample, machine[is_sample], lay.coordinator, np.stack([seg, rank], axis=1))
        out.keep(self.tags.marked, marked.take(order[is_marked]))
        out.keep(self.tags.query, queries.take(order[~is_marked] - len(marked)))

    # -- round 2: SPLIT -----------------------------------------------------------------------
    def split(self, inbox: Inbox, out: Outbox) -> None:
        """The coordinator broadcasts splitters; workers keep their records."""
        marked, queries = self._records(inbox)
        out.keep(self.tags.marked, marked)
        out.keep(self.tags.query, queries)
        view, lay = inbox.view, self.layout
        if not view.lo <= lay.coordinator < view.hi:
            return
        samples = inbox.table(self.tags.sample, 2).rows
        if len(samples) == 0 or lay.workers == 1:
            return
        samples = samples[np.argsort(samples[:, 0] * (2 * lay.pos_limit) + samples[:, 1], kind="stable")]
        k = -(-len(samples) // lay.workers)
        ranks = np.arange(1, lay.workers) * k - 1
        splitters = samples[ranks[ranks < len(samples)]]
        dst = np.repeat(np.arange(lay.workers, dtype=_I64), len(splitters))
        out.send(self.tags.splitter, lay.coordinator, dst, np.tile(splitters, (lay.workers, 1)))

    # -- round 3: ROUTE -----------------------------------------------------------------------
    def _splitters(self, inbox: Inbox) -> tuple[np.ndarray, np.ndarray]:
        """(splitter keys, splitter segments) as received by this shard's workers (all equal)."""
        spl = inbox.table(self.tags.splitter, 2)
        rows = spl.rows[spl.machine == spl.machine[0]] if len(spl) else spl.rows
        keys = rows[:, 0] * (2 * self.layout.pos_limit) + rows[:, 1]
        return keys, rows[:, 0]

    def route(self, inbox: Inbox, out: Outbox) -> None:
        """Send every record to its bucket (records stay sorted within each message), then each
        boundary's carry to the bucket after it, as a message of its own."""
        marked, queries = self._records(inbox)
        sk, sseg = self._splitters(inbox)
        mkey = self.keys(marked.rows, 0)
        out.send(self.tags.marked, marked.machine, np.searchsorted(sk, mkey, side="left"), marked.rows)
        out.send(self.tags.query, queries.machine,
                 np.searchsorted(sk, self.keys(queries.rows, 1), side="left"), queries.rows)
        out.send(self.tags.marked, *self._carries(marked, mkey, sk, sseg))

    def _carries(self, marked: Table, mkey: np.ndarray, sk: np.ndarray, sseg: np.ndarray):
        """For every (worker, splitter σ_b): the worker's last marked record with key ≤ σ_b and the
        segment of σ_b, addressed to bucket b + 1."""
        if len(marked) == 0 or len(sk) == 0:
            return np.zeros(0, _I64), np.zeros(0, _I64), np.zeros((0, self.marked_width), _I64)
        lay = self.layout
        machines = np.unique(marked.machine)
        gk = lay.machine_keys(marked.machine, mkey)
        order = np.argsort(gk, kind="stable")  # records arrive sorted: linear time
        gk, rows, owner = gk[order], marked.rows[order], marked.machine[order]
        qm = np.repeat(machines, len(sk))
        qb = np.tile(np.arange(len(sk), dtype=_I64), len(machines))
        idx = np.searchsorted(gk, lay.machine_keys(qm, sk[qb]), side="right") - 1
        ok = idx >= 0
        ok[ok] &= (owner[idx[ok]] == qm[ok]) & (rows[idx[ok], 0] == sseg[qb[ok]])
        return qm[ok], qb[ok] + 1, rows[idx[ok]]

    def advance(self, offset: int, inbox: Inbox, out: Outbox, round: int = 0) -> "Matches | None":
        """Rounds 2–4 of the sort by their offset in its phase: split, route, then resolve (whose
        matches are returned; None before that). Round 1, ``sample``, needs the caller's records."""
        if offset == 1:
            self.split(inbox, out)
            return None
        if offset == 2:
            self.route(inbox, out)
            return None
        if offset == 3:
            return self.resolve(inbox, round)
        raise ValueError(f"CopyForwardSort has rounds at offsets 0..3, got {offset}")

    # -- round 4: RESOLVE ---------------------------------------------------------------------
    def resolve(self, inbox: Inbox, round: int = 0) -> Matches:
        """Each bucket merges what it received and hands every query its last marked record."""
        lay = self.layout
        marked, queries = self._records(inbox)
        n_marked = len(marked)
        mk = lay.machine_keys(np.concatenate([marked.machine, queries.machine]),
                              np.concatenate([self.keys(marked.rows, 0), self.keys(queries.rows, 1)]))
        order = np.argsort(mk, kind="stable")  # merges the senders' sorted runs
        mk = mk[order]
        same = np.flatnonzero(mk[1:] == mk[:-1])
        if len(same):
            machine, key = divmod(int(mk[same[0]]), lay.key_limit)
            raise ProtocolError(
                f"round {round}, machine {machine}: two sort records share the key (segment, position, class) = "
                f"({key // 2 // lay.pos_limit}, {key // 2 % lay.pos_limit}, {key % 2}); keys must be distinct"
            )
        is_marked = order < n_marked
        last = np.maximum.accumulate(np.where(is_marked, np.arange(len(order)), -1))
        qpos = np.flatnonzero(~is_marked)
        src = last[qpos]
        found = src >= 0
        # same machine and segment ⟺ same mk // (2·pos_limit) = machine·seg_limit + segment
        segment = 2 * lay.pos_limit
        found[found] = mk[src[found]] // segment == mk[qpos[found]] // segment
        mrows = np.zeros((len(qpos), self.marked_width), _I64)
        mrows[found] = marked.rows[order[src[found]]]
        return Matches(mk[qpos] // lay.key_limit, queries.rows[order[qpos] - n_marked], found, mrows)


def ceil_log2(k: int) -> int:
    """⌈log2 k⌉ for k ≥ 1 (0 for k = 1)."""
    if k < 1:
        raise ValueError(f"ceil_log2 needs k >= 1, got {k}")
    return (k - 1).bit_length()


__all__ = [
    "BlockLayout", "CopyForwardSort", "Inbox", "Matches", "Outbox", "PlanError", "RELAYOUT_ROUNDS",
    "SORT_ROUNDS", "Schedule", "SortLayout", "SortTags", "TAG_WORDS", "Table", "ceil_log2",
    "psrs_bucket_bound", "send_relayout", "stable_order",
]
