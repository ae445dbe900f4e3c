"""MPC building blocks (protocols.mpc_blocks): tagged tables, layouts, the schedule, the PSRS bucket
bound (checked against a plain-Python sample sort written here) and CopyForwardSort run alone on
the simulator against a plain-Python "last marked record of the segment" reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcsim import MPCConfig, ProtocolError, Simulator
from mpcsim.backends import InProcessBackend
from mpcsim.messages import Messages
from mpcsim.protocol import Protocol, ShardOutput, ShardView, Step
from protocols.mpc_blocks import (
    SORT_ROUNDS, TAG_WORDS, BlockLayout, CopyForwardSort, Inbox, Outbox, Schedule, SortLayout, SortTags, Table,
    psrs_bucket_bound, stable_order,
)

TAGS = SortTags(marked=1, query=2, sample=3, splitter=4)


# ---- tagged tables -----------------------------------------------------------------------------
def _view(messages: Messages, lo: int, hi: int) -> ShardView:
    return ShardView(lo, hi, messages.sorted_for_delivery())


@settings(max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from([1, 2]),
                          st.integers(0, 99)), max_size=40))
def test_outbox_inbox_roundtrip(items):
    """Rows sent with tags come back per (holder, tag) in emission order; one tag word per message."""
    widths = {1: 2, 2: 3}
    out = Outbox()
    sent = {1: [], 2: []}
    for tag in (1, 2):
        rows = [(src, dst, [v + c for c in range(widths[tag])]) for src, dst, t, v in items if t == tag]
        if rows:
            out.send(tag, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        sent[tag] = rows
    msgs = out.build()
    pairs = {(src, dst, t) for src, dst, t, _ in items}
    assert msgs.total_words == sum(len(r) * widths[t] for t, r in sent.items()) + TAG_WORDS * len(pairs)
    inbox = Inbox(_view(msgs, 0, 4))
    for tag, width in widths.items():
        table = inbox.table(tag, width)
        expect = sorted(((d, s, i), row) for i, (s, d, row) in enumerate(sent[tag]))
        assert table.machine.tolist() == [k[0] for k, _ in expect]
        assert table.rows.tolist() == [row for _, row in expect]


def test_many_machines_and_messages():
    """Machine ids past 2^8 and 2^11 and more than 2048 messages take the other grouping paths."""
    rng = np.random.default_rng(0)
    for top in (300, 3000):
        src, dst = rng.integers(0, top, 5000), rng.integers(0, top, 5000)
        rows = np.stack([np.arange(5000), src], axis=1)
        out = Outbox()
        out.send(7, src, dst, rows)
        msgs = out.build()
        assert len(msgs) == len(set(zip(src.tolist(), dst.tolist())))
        table = Inbox(_view(msgs, 0, top)).table(7, 2)
        expect = sorted(zip(dst.tolist(), src.tolist(), range(5000)))
        assert table.machine.tolist() == [d for d, _, _ in expect]
        assert table.rows[:, 0].tolist() == [i for _, _, i in expect]


@settings(max_examples=30)
@given(st.lists(st.integers(0, 2**20), max_size=300), st.sampled_from([1 << 16, 1 << 21]))
def test_stable_order(keys, limit):
    keys = np.array(keys, dtype=np.int64) % limit
    assert stable_order(keys, limit).tolist() == sorted(range(len(keys)), key=lambda i: (keys[i], i))


def test_inbox_rejects_a_wrong_width():
    out = Outbox()
    out.send(5, [0], [1], [[1, 2, 3]])
    with pytest.raises(ProtocolError, match="not a multiple of the row width 2"):
        Inbox(_view(out.build(), 0, 2)).table(5, 2)


def test_untagged_send_and_raw():
    out = Outbox()
    out.send(None, [0, 0, 1], [1, 1, 1], [7, 8, 9])
    raw = Inbox(_view(out.build(), 1, 2)).raw()
    assert raw.machine.tolist() == [1, 1, 1] and raw.rows[:, 0].tolist() == [7, 8, 9]


@settings(max_examples=40)
@given(st.integers(0, 60), st.integers(1, 9), st.integers(0, 3))
def test_block_layout(n, block, first):
    lay = BlockLayout(n, block, first)
    pos = np.arange(1, n + 1)
    owner = lay.owner(pos)
    assert owner.tolist() == [first + (i - 1) // block for i in range(1, n + 1)]
    assert lay.machines == max(1, -(-n // block))
    top = first + lay.machines + 1
    assert lay.held_positions(owner, 0, top).tolist() == pos.tolist()
    for lo in range(0, top):
        held = [i for i in range(1, n + 1) if first + (i - 1) // block == lo]
        p_lo, p_hi = lay.span(lo, lo + 1)
        assert list(range(p_lo, p_hi)) == held
        assert lay.block_sizes(lo, lo + 1).tolist() == [len(held)]
    if n:
        with pytest.raises(ValueError, match="holds"):
            lay.held_positions(owner[1:], 0, top)  # one row short


def test_schedule_locate():
    sched = Schedule((("a", 1), ("b", 4), ("c", 2)))
    assert sched.total == 7
    expanded = [("a", 0)] + [("b", i) for i in range(4)] + [("c", i) for i in range(2)]
    assert [sched.locate(r)[1:] for r in range(1, 8)] == expanded
    assert sched.locate(8) is None and Schedule(()).locate(1) is None


# ---- the PSRS bound, against an independent sample sort ----------------------------------------
def _plain_psrs(workers_records: list[list[tuple[int, int]]], max_weight: int) -> list[int]:
    """Sample sort as the docstring of psrs_bucket_bound specifies it, in plain Python.
    Records are (key, weight); returns the weight that lands in each bucket."""
    w = len(workers_records)
    widest = max((wd for recs in workers_records for _, wd in recs), default=1)
    g = max(-(-max_weight // w), widest, 1)
    samples = []
    for recs in workers_records:
        run = 0
        for key, wd in sorted(recs):
            if (run + wd) // g > run // g:
                samples.append(key)
            run += wd
    samples.sort()
    k = -(-len(samples) // w) if samples else 1
    splitters = [samples[b * k - 1] for b in range(1, w) if b * k <= len(samples)]
    buckets = [0] * w
    for recs in workers_records:
        for key, wd in recs:
            buckets[sum(1 for sp in splitters if sp < key)] += wd
    return buckets


@st.composite
def _placements(draw):
    w = draw(st.integers(1, 6))
    n = draw(st.integers(0, 120))
    keys = draw(st.permutations(range(n)))
    widths = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    how = draw(st.sampled_from(["random", "contiguous", "round_robin", "one_worker"]))
    if how == "random":
        owner = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
    elif how == "contiguous":  # each worker holds a key range: the adversary of regular sampling
        owner = [min(w - 1, key * w // max(n, 1)) for key in keys]
    elif how == "round_robin":
        owner = [key % w for key in keys]
    else:
        owner = [0] * n
    recs = [[] for _ in range(w)]
    for key, wd, m in zip(keys, widths, owner):
        recs[m].append((key, wd))
    return recs


@settings(max_examples=80)
@given(_placements())
def test_psrs_bucket_bound_holds(recs):
    max_weight = max(sum(wd for _, wd in r) for r in recs)
    total = sum(wd for r in recs for _, wd in r)
    widest = max((wd for r in recs for _, wd in r), default=1)
    bound = psrs_bucket_bound(total, max_weight, len(recs), widest)
    assert max(_plain_psrs(recs, max_weight)) <= bound


def test_psrs_bound_numbers():
    """Unit widths, W = 4 workers of L = 100 records: g = 25, S ≤ 16, K = 4, bound = 25·4 + 4·24 = 196
    (the classical ≈ 2N/W = 200); capped by N; vectorised over arrays."""
    assert psrs_bucket_bound(400, 100, 4, 1) == 196
    assert psrs_bucket_bound(10, 100, 4, 1) == 10
    assert psrs_bucket_bound(np.array([400, 10]), 100, 4, 1).tolist() == [196, 10]


# ---- CopyForwardSort alone on the simulator ----------------------------------------------------
class SortScanProbe(Protocol):
    """Records placed on workers by the environment; rounds 1–4 run CopyForwardSort; in round 4
    each bucket keeps [segment, position, found, matched position, matched payload] per query.
    Queries weigh RESULT_WIDTH, so the bucket bound covers those answers too."""

    RESULT_WIDTH = 5

    def __init__(self, marked: list, queries: list, workers: int, seg_limit: int, pos_limit: int,
                 marked_width: int, query_width: int, word_bits: int = 12):
        self.marked, self.queries = marked, queries  # lists of (machine, row)
        qweight = max(query_width, self.RESULT_WIDTH)  # a query's answer is RESULT_WIDTH words
        weight = np.zeros(workers, np.int64)
        for m, _ in marked:
            weight[m] += marked_width
        for m, _ in queries:
            weight[m] += qweight
        lay = SortLayout(workers=workers, coordinator=workers, max_weight=int(weight.max(initial=0)),
                         total_weight=int(weight.sum()), max_record_weight=max(marked_width, qweight),
                         seg_limit=seg_limit, pos_limit=pos_limit)
        self.sort = CopyForwardSort(lay, marked_width, query_width, TAGS, query_weight=qweight)
        h, spw = TAG_WORDS, lay.samples_per_worker
        held_c, sent_c = lay.coordinator_words()
        self.carry_allowance = workers * marked_width + 3 * workers * h  # carries + one tag per message
        s = max(lay.max_weight + 2 * h + 2 * spw + h + 2 * workers,  # records, samples, splitters
                lay.max_weight + 3 * workers * h + (workers - 1) * marked_width,  # routing out
                lay.bucket_weight + self.carry_allowance,  # a bucket
                self.RESULT_WIDTH * len(queries) + h, held_c, sent_c, 1)
        self.config = MPCConfig(n=0, q=workers + 1, s=s, word_bits=word_bits)

    def initial_memory(self, inputs):
        out = Outbox()
        for tag, recs in ((TAGS.marked, self.marked), (TAGS.query, self.queries)):
            if recs:
                m = [r[0] for r in recs]
                out.send(tag, m, m, [r[1] for r in recs])
        return out.build()

    def local(self, round: int, view: ShardView) -> Step:
        inbox, out = Inbox(view), Outbox()
        if round == 1:
            self.sort.sample(out, inbox.table(TAGS.marked, self.sort.marked_width),
                             inbox.table(TAGS.query, self.sort.query_width), round)
        elif round == 2:
            self.sort.split(inbox, out)
        elif round == 3:
            self.sort.route(inbox, out)
        elif round == 4:
            m = self.sort.resolve(inbox, round)
            rows = np.concatenate([m.query[:, :2], m.found[:, None], m.marked[:, 1:2], m.marked[:, 2:3]], axis=1)
            out.send(None, m.machine, m.machine, rows)
        else:
            return Step.stop()
        return Step.send(out.build())

    def output(self, view: ShardView) -> ShardOutput:
        return ShardOutput.from_memory(view)

    def decode_output(self, words):
        return sorted(map(tuple, np.asarray(words).reshape(-1, self.RESULT_WIDTH).tolist()))


def _reference(marked, queries):
    """For each query (seg, pos): the marked record of the same segment with the largest position
    ≤ pos (a marked record at the query's own position counts: it sorts first)."""
    out = []
    for _, q in queries:
        best = max((r for _, r in marked if r[0] == q[0] and r[1] <= q[1]), key=lambda r: r[1], default=None)
        out.append((q[0], q[1], 1, best[1], best[2]) if best else (q[0], q[1], 0, 0, 0))
    return sorted(out)


@st.composite
def _sort_cases(draw):
    workers = draw(st.integers(1, 5))
    segs = draw(st.integers(1, 4))  # few segments: segments span several buckets
    positions = 40
    mpos = draw(st.lists(st.integers(0, positions - 1), unique=True, max_size=30))
    qpos = draw(st.lists(st.integers(0, positions - 1), unique=True, max_size=30))
    mw = draw(st.integers(3, 4))
    qw = draw(st.integers(2, 3))
    marked = [(draw(st.integers(0, workers - 1)), [draw(st.integers(0, segs - 1)), p]
               + [draw(st.integers(0, 50)) for _ in range(mw - 2)]) for p in mpos]
    queries = [(draw(st.integers(0, workers - 1)), [draw(st.integers(0, segs - 1)), p] + [7] * (qw - 2))
               for p in qpos]
    # keys (segment, position, class) are distinct because positions are distinct within a class
    return SortScanProbe(marked, queries, workers, segs, positions, mw, qw)


@settings(max_examples=60)
@given(_sort_cases(), st.integers(1, 4))
def test_copy_forward_sort_matches_reference(probe, shards):
    res = Simulator(InProcessBackend(num_shards=shards)).run(probe, [])
    assert res.output == _reference(probe.marked, probe.queries)
    assert res.trace.num_rounds == SORT_ROUNDS
    assert res.trace.within_limits()
    bound = probe.sort.layout.bucket_weight
    route = res.trace.rounds[2]  # what the buckets received: PSRS bound + carries
    assert route.max_received <= bound + probe.carry_allowance
    assert res.trace.rounds[3].max_sent <= bound + TAG_WORDS  # the answers: weights cover them
    one = Simulator(InProcessBackend(num_shards=1)).run(probe, [])
    assert one.output == res.output and one.trace.equals(res.trace)


def test_long_segment_crossing_every_bucket():
    """One marked record, then 60 queries of its segment spread over 4 workers: the carry must
    reach every bucket after the first."""
    marked = [(3, [0, 0, 42])]
    queries = [(p % 4, [0, p + 1]) for p in range(60)]
    probe = SortScanProbe(marked, queries, 4, 1, 64, 3, 2)
    res = Simulator().run(probe, [])
    assert res.output == [(0, p, 1, 0, 42) for p in range(1, 61)]


def test_sample_rejects_more_records_than_planned():
    probe = SortScanProbe([(0, [0, 1, 5])], [(0, [0, 2])], 1, 1, 4, 3, 2)
    out = Outbox()
    with pytest.raises(ProtocolError, match="max_weight"):
        probe.sort.sample(out, Table.of([0, 0], [[0, 1, 5], [0, 3, 5]]), Table.of([0], [[0, 2]]), round=7)


def test_resolve_rejects_duplicate_keys():
    marked = [(0, [0, 1, 5]), (1, [0, 1, 6])]  # two marked records with the key (0, 1)
    probe = SortScanProbe(marked, [(0, [0, 2])], 2, 1, 4, 3, 2)
    with pytest.raises(ProtocolError, match="share the key"):
        Simulator().run(probe, [])
