"""Lowering (a): a token program → an MPC protocol (P2 Def. 2.3) that runs on the simulator.

Positions 1..n live in blocks of B on owner machines 0..W−1 (machine W coordinates sorts); each
position's live registers are words (categorical: 1 + code, 0 = ⊥; pointers: the position;
integers: value − lower bound). Element-wise registers are local computation (free in MPC, the
same ``semantics.eval_elementwise`` the other evaluators use). Each attention head of the
scheduled graph becomes one communication phase:

* **lookups / EQ selectors** (P2 Lemma D.1 and the quadratic form): a ``CopyForwardSort``
  (``protocols.mpc_blocks``: PSRS sample sort fused with a segmented copy-forward scan) of data
  records [key value, j, values(j)] and query records [query value, i or n+i, i]; each query
  takes the last data record of its segment, and the answer goes back to the owner of i. Any
  number of positions may read one position: the sort spreads them over buckets (the proven
  bucket bound sizes the memory), so congestion is paid for honestly, in sort words.
* **last occurrence** (P2 Lemma D.2): the same sort with segment = key / query value and the
  data record of j sorting before the query of i = j (i′ ≤ i).
* **selector width** (categorical selectors): owners send key histograms to the coordinator,
  which answers with totals (bidirectional) or per-owner prefix sums (causal); 2 rounds.

Means over predicate selectors (fractions) are not lowered: MPC words are integers, and the
lowering says so at construction. An EQ selector on integer keys that several positions share
takes the last of them here, where the transformer averages them (equal values agree; the
reference evaluator refuses differing categorical ones) — programs should use unique keys there. Rounds: 1 (spread) + 4 per sort head + 2 per width head + 1
(output), exactly (``expected_rounds``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mpcsim.config import MPCConfig, memory_for_delta, word_bits_for
from mpcsim.errors import ProtocolError
from mpcsim.protocol import ShardOutput, ShardView
from mpcsim.simulator import Result, Simulator
from protocols.mpc_blocks import (
    SORT_ROUNDS, TAG_WORDS, BlockLayout, CopyForwardSort, Inbox, Outbox, PlanError, Schedule,
    ScheduledProtocol, SortLayout, SortTags, Table, psrs_bucket_bound, send_relayout,
)

from .attention_forms import form_of
from .errors import CompileError
from .ir import Comparison, Expr, Indices, Kind, Program, Tokens
from .program_to_graph import Graph, Head, WidthRamp, WidthSteps, program_to_graph
from .semantics import decode_values, eval_elementwise, null_array, numeric_view

_I64 = np.int64
TAG_STATE, TAG_REPLY, TAG_HIST, TAG_COUNT = 1, 2, 3, 4
SORT_TAGS = SortTags(marked=5, query=6, sample=7, splitter=8)
MAX_TAG = 8
QUERY_WIDTH = 3  # [segment, position, i]
WIDTH_ROUNDS = 2  # histograms to the coordinator, totals / prefixes back


# ---- words ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WordCodec:
    """Register values ↔ non-negative words at input length n."""

    n: int

    def offset(self, reg: Expr) -> int:
        t = reg.type
        if t.kind is Kind.NUMERIC:
            return int(math.floor(t.lo.at(self.n)))
        return 0

    def max_word(self, reg: Expr) -> int:
        t = reg.type
        if t.kind is Kind.CATEGORICAL:
            return len(t.proper_values)
        if t.kind is Kind.POINTER:
            return self.n
        return int(math.ceil(t.hi.at(self.n))) - self.offset(reg)

    def to_words(self, reg: Expr, logical: np.ndarray) -> np.ndarray:
        t = reg.type
        if t.kind is Kind.CATEGORICAL:
            return np.asarray(logical, dtype=_I64) + 1
        if t.kind is Kind.POINTER:
            return np.asarray(logical, dtype=_I64)
        return np.rint(np.asarray(logical, dtype=float)).astype(_I64) - self.offset(reg)

    def to_logical(self, reg: Expr, words: np.ndarray) -> np.ndarray:
        t = reg.type
        if t.kind is Kind.CATEGORICAL:
            return np.asarray(words, dtype=_I64) - 1
        if t.kind is Kind.POINTER:
            return np.asarray(words, dtype=_I64)
        return np.asarray(words, dtype=float) + self.offset(reg)


# ---- the plan: phases, live registers, memory -------------------------------------------------
@dataclass(frozen=True)
class Phase:
    """One communication phase: a head of the graph, the registers computed locally before it,
    and the registers a position holds during it (``state``)."""

    head: Head | None  # None: the output phase
    kind: str  # "sort" | "width" | "output"
    local: tuple  # element-wise registers computed at the start of the phase
    state: tuple  # registers held (in this column order) during the phase
    rounds: int


def width_steps(graph: Graph) -> dict:
    """Width head name → the thermometer register its phase computes (w itself, in MPC)."""
    return {h.name: n for n in graph.nodes if isinstance(n, WidthSteps)
            for h in graph.heads if h.kind == "width" and h.outputs[0].name == n.ramp.inverse.name}


def _phases(graph: Graph) -> list[Phase]:
    """Heads in schedule order; locals before the first head that needs them; liveness."""
    for head in graph.heads:
        if head.kind == "aggregate" and form_of(head) in ("table", "constant"):
            raise CompileError(f"head {head.name}: a mean over a predicate selector is a fraction; the MPC "
                               "lowering holds integer words and does not lower it")
    heads = list(graph.heads)
    internal = {n.name for n in graph.nodes if isinstance(n, WidthRamp)} | \
        {h.outputs[0].name for h in heads if h.kind == "width"}
    for node in graph.nodes:
        if node.name not in internal and node.type.kind is Kind.NUMERIC and not node.type.integer:
            raise CompileError(f"register '{node.name}' is a fraction; the MPC lowering holds integer words")
    produced_by = {o.name: i for i, h in enumerate(heads) for o in h.outputs}
    for i, h in enumerate(heads):
        if h.kind == "width":
            produced_by[width_steps(graph)[h.name].name] = i
    ready: dict = {}  # the phase at whose start a register is available
    local_at: dict = {}
    for node in graph.nodes:
        if node.name in internal:
            continue
        if isinstance(node, (Tokens, Indices)):
            ready[node.name] = 0
        elif node.name in produced_by:
            ready[node.name] = produced_by[node.name] + 1
        else:
            ready[node.name] = max(ready[c.name] for c in node.children())
            local_at.setdefault(ready[node.name], []).append(node)
    last_use: dict = {graph.output.name: len(heads)}  # the last phase that reads a register
    for i, head in enumerate(heads):
        for reg in _head_inputs(head):
            last_use[reg.name] = max(last_use.get(reg.name, -1), i)
    for node in reversed(graph.nodes):  # a local register's inputs are read when it is computed
        if node.name in last_use and node.name in ready and node in local_at.get(ready[node.name], []):
            for c in node.children():
                last_use[c.name] = max(last_use.get(c.name, -1), ready[node.name])
    phases = []
    for i in range(len(heads) + 1):
        live = tuple(n for n in graph.nodes if n.name in last_use and n.name in ready and not isinstance(n, Indices)
                     and ready[n.name] <= i <= last_use[n.name])  # positions are known, not stored …
        live = live or (Indices(),)  # … unless nothing else is: a machine keeps one word per position
        local = tuple(n for n in local_at.get(i, []) if n.name in last_use)
        if i < len(heads):
            kind = "width" if heads[i].kind == "width" else "sort"
            phases.append(Phase(heads[i], kind, local, live, SORT_ROUNDS if kind == "sort" else WIDTH_ROUNDS))
        else:
            phases.append(Phase(None, "output", local, live, 1))
    return phases


def _head_inputs(head: Head) -> list[Expr]:
    if head.kind == "last_occurrence":
        regs = list(head.pattern)
    else:
        regs = [head.pattern.keys, head.pattern.queries]
    return regs + [v for v in head.values if v is not None]


def _head_payload(head: Head) -> list[Expr]:
    return [v for v in head.values if v is not None]


def _sort_weights(head: Head) -> tuple[int, int]:
    """(data record weight, query weight): a data record is [segment, j, values…]; a query
    [segment, position, i] weighs as much as its reply [i, found, values…]."""
    payload = len(_head_payload(head))
    return 2 + payload, max(QUERY_WIDTH, 2 + payload)


@dataclass(frozen=True)
class ProgramPlan:
    """Block size B, owners W = ⌈n/B⌉ (machine W coordinates), and the worst words of any round."""

    n: int
    s: int
    block: int
    owners: int
    worst: int

    @property
    def q(self) -> int:
        return self.owners + 1


def _worst_words(n: int, blocks: np.ndarray, phases: list[Phase], codec_widths: dict) -> np.ndarray:
    """Per candidate block B: the most words any machine holds, sends or receives in any round
    (one tag word h per message), following the phases' record widths."""
    b = np.asarray(blocks, dtype=_I64)
    w = -(-n // b)
    h = TAG_WORDS
    terms = [b]  # spread: an owner receives its block
    prev_reply = np.zeros_like(b)
    for ph in phases:
        state = len(ph.state) * b + h
        if ph.kind == "sort":
            mw, qw = _sort_weights(ph.head)
            max_w = (mw + qw) * b
            bucket = psrs_bucket_bound((mw + qw) * n, max_w, w, max(mw, qw))
            gap = np.maximum(np.maximum(-(-max_w // w), max(mw, qw)), 1)
            samples = 2 * (max_w // gap) + h
            rw = 2 + len(_head_payload(ph.head))
            terms += [
                state + prev_reply, state + max_w + 2 * h + samples,  # SAMPLE: held, sent
                state + max_w + 2 * h + np.where(w > 1, 2 * (w - 1) + h, 0),  # SPLIT: held
                state + max_w + 3 * w * h + (w - 1) * mw,  # ROUTE: sent
                state + bucket + 3 * w * h + w * mw,  # RESOLVE: held (records, carries)
                state + bucket + w * h,  # RESOLVE: replies sent (a query weighs as much as its reply)
                w * samples, w * (2 * (w - 1) + h),  # the coordinator: samples in, splitters out
            ]
            prev_reply = rw * b + w * h
        elif ph.kind == "width":
            bins = codec_widths[ph.head.name] + 1 + h  # [owner, counts…] + tag
            terms += [state + prev_reply, w * bins, state + bins]
            prev_reply = bins
        else:
            terms += [state + prev_reply, b]
    return np.maximum.reduce(terms)


def plan_memory(n: int, s: int, phases: list[Phase], codec_widths: dict) -> ProgramPlan:
    """The largest block that fits in s words (``PlanError`` says what memory would fit)."""
    blocks = np.arange(1, max(1, min(n, s)) + 1, dtype=_I64)
    worst = _worst_words(n, blocks, phases, codec_widths)
    fits = np.flatnonzero(worst <= s)
    if len(fits) == 0:
        cands = np.unique(-(-n // np.arange(1, n + 1, dtype=_I64)))
        all_worst = _worst_words(n, cands, phases, codec_widths)
        need = int(all_worst.min())
        raise PlanError(f"n = {n} positions need local memory s >= {need} words for this program "
                        f"(blocks of {int(cands[all_worst.argmin()])}); got s = {s} "
                        f"(δ = {math.log(max(s, 2)) / math.log(max(n, 2)):.3f}, needed δ >= "
                        f"{math.log(max(need, 2)) / math.log(max(n, 2)):.3f})")
    b = int(blocks[fits[-1]])
    return ProgramPlan(n, s, b, -(-n // b), int(worst[fits[-1]]))


def min_memory(n: int, phases: list[Phase], codec_widths: dict) -> int:
    cands = np.unique(-(-max(n, 1) // np.arange(1, max(n, 1) + 1, dtype=_I64)))
    return int(_worst_words(max(n, 1), cands, phases, codec_widths).min())


# ---- the protocol ------------------------------------------------------------------------------
class ProgramProtocol(ScheduledProtocol):
    """A token program run on MPC machines (see the module docstring)."""

    def __init__(self, program: Program, n: int, *, memory: int | None = None, delta: float | None = None,
                 c: int = 1):
        if n < 1:
            raise ValueError(f"ProgramProtocol needs n >= 1 positions, got {n}")
        self.program, self.n = program, n
        self.graph = program_to_graph(program)
        self.vocab = program.vocab
        self.codec = WordCodec(n)
        self.phases = _phases(self.graph)
        self._width_bins = {p.head.name: self._bins(p.head) for p in self.phases if p.kind == "width"}
        self._steps = width_steps(self.graph)
        if memory is not None:
            s = int(memory)
        elif delta is not None:
            s = memory_for_delta(n, delta, c)
        else:
            s = min_memory(n, self.phases, self._width_bins)
        self.plan = plan_memory(n, s, self.phases, self._width_bins)
        self.owners = BlockLayout(n, self.plan.block)
        self.io = BlockLayout(n, s)
        biggest = max([2 * n + 2, MAX_TAG, len(self.vocab) + 1] +
                      [self.codec.max_word(r) for p in self.phases for r in p.state] +
                      [4 * n + 4 + 2 * max(self._seg_limit(p.head) for p in self.phases if p.kind == "sort")
                       if any(p.kind == "sort" for p in self.phases) else 0])
        self.config = MPCConfig(n=n, q=max(self.plan.q, self.io.machines), s=s, word_bits=word_bits_for(biggest))
        self.schedule = Schedule((("spread", 1),) + tuple((p.kind, p.rounds) for p in self.phases))
        self.expected_rounds = self.schedule.total
        self._sorts = {}
        for p in self.phases:
            if p.kind == "sort":
                mw, qw = _sort_weights(p.head)
                layout = SortLayout(workers=self.plan.owners, coordinator=self.plan.owners,
                                    max_weight=(mw + qw) * self.plan.block, total_weight=(mw + qw) * n,
                                    max_record_weight=max(mw, qw), seg_limit=self._seg_limit(p.head),
                                    pos_limit=2 * n + 2)
                self._sorts[p.head.name] = CopyForwardSort(layout, mw, QUERY_WIDTH, SORT_TAGS, mw, qw)

    # -- static helpers ---------------------------------------------------------------------
    def _seg_limit(self, head: Head) -> int:
        if head.kind == "last_occurrence":
            return len(head.pattern[0].type.proper_values) + 1
        keys, queries = head.pattern.keys, head.pattern.queries
        return self._key_range(keys, queries)[1] + 1

    def _key_range(self, keys: Expr, queries: Expr) -> tuple[int, int]:
        """(offset, largest segment) for EQ selectors on integers: segment = value − offset."""
        los, his = [], []
        for reg in (keys, queries):
            lo, hi, _ = reg.type.numeric_view()
            los.append(int(math.floor(lo.at(self.n))))
            his.append(int(math.ceil(hi.at(self.n))))
        return min(los), max(his) - min(los)

    @staticmethod
    def _constant(head: Head) -> bool:
        return head.pattern.predicate in (Comparison.TRUE, Comparison.FALSE)

    def _bins(self, head: Head) -> int:
        """Histogram bins of a width head: one per key value, or one (all positions) for TRUE/FALSE."""
        return 1 if self._constant(head) else len(head.pattern.keys.type.proper_values)

    # -- Protocol ---------------------------------------------------------------------------
    def run_phase(self, round: int, index: int, name: str, offset: int, inbox: Inbox, out: Outbox) -> None:
        view = inbox.view
        if name == "spread":
            raw = inbox.raw()
            hi = min(view.hi, self.io.machines)
            pos = self.io.held_positions(raw.machine, view.lo, max(view.lo, hi)) if len(raw) else np.zeros(0, _I64)
            send_relayout(out, raw.rows[:, 0], pos, raw.machine, self.owners)
            return
        phase_index = index - 1
        phase = self.phases[phase_index]
        if offset == 0:
            machines, pos, regs = self._enter(round, phase_index, inbox)
            if phase.kind != "output":
                self._keep(out, machines, regs, phase)
            if phase.kind == "sort":
                self._start_sort(round, phase, machines, pos, regs, out)
            elif phase.kind == "width":
                self._send_histograms(phase, view, machines, pos, regs, out)
            else:
                words = self.codec.to_words(self.graph.output, regs[self.graph.output.name])
                send_relayout(out, words, pos, machines, self.io)
            return
        state = inbox.table(TAG_STATE, len(phase.state))
        out.keep(TAG_STATE, state)
        if phase.kind == "width":
            self._answer_histograms(phase, inbox, out)
            return
        m = self._sorts[phase.head.name].advance(offset, inbox, out, round)
        if m is not None:
            i = m.query[:, 2]
            rows = np.concatenate([i[:, None], m.found[:, None].astype(_I64), m.marked[:, 2:]], axis=1)
            out.send(TAG_REPLY, m.machine, self.owners.owner(i), rows)

    def output(self, view: ShardView) -> ShardOutput:
        return ShardOutput.from_memory(view)

    def decode_output(self, words) -> list:
        reg = self.graph.output
        return decode_values(reg.type, self.codec.to_logical(reg, np.asarray(words, dtype=_I64)))

    # -- phase steps ------------------------------------------------------------------------
    def _enter(self, round: int, phase_index: int, inbox: Inbox):
        """First round of a phase: the previous state, the previous head's answers, and this
        phase's local registers, as logical arrays over the shard's positions."""
        view = inbox.view
        hi = min(view.hi, self.owners.machines)
        if phase_index == 0:
            raw = inbox.raw()
            machines = raw.machine
            pos = self.owners.held_positions(machines, view.lo, max(view.lo, hi)) if len(raw) else np.zeros(0, _I64)
            regs = {}
            tokens = [n for n in self.graph.nodes if isinstance(n, Tokens)]
            for t in tokens:
                regs[t.name] = raw.rows[:, 0]
        else:
            prev = self.phases[phase_index - 1]
            state = inbox.table(TAG_STATE, len(prev.state))
            machines = state.machine
            pos = self.owners.held_positions(machines, view.lo, max(view.lo, hi)) if len(state) else np.zeros(0, _I64)
            regs = {r.name: self.codec.to_logical(r, state.rows[:, j]) for j, r in enumerate(prev.state)}
            if prev.kind == "sort":
                self._apply_replies(round, prev.head, inbox, machines, pos, regs)
            else:
                self._apply_counts(prev.head, inbox, machines, pos, regs)
        for node in self.graph.nodes:
            if isinstance(node, Indices):
                regs[node.name] = pos
        for node in self.phases[phase_index].local:
            regs[node.name] = eval_elementwise(node, [regs[c.name] for c in node.children()])
        return machines, pos, regs

    def _keep(self, out: Outbox, machines: np.ndarray, regs: dict, phase: Phase) -> None:
        if not phase.state or len(machines) == 0:
            return
        cols = [self.codec.to_words(r, regs[r.name]) for r in phase.state]
        out.keep(TAG_STATE, Table(machines, np.stack(cols, axis=1)))

    def _segments(self, head: Head, regs: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(key segment, key valid, query segment, query valid) for every position."""
        if head.kind == "last_occurrence":
            key, query = head.pattern
            kseg = regs[key.name] + 1
            common = {v: j for j, v in enumerate(key.type.proper_values)}
            qmap = np.array([-1] + [common.get(v, -1) for v in query.type.proper_values])
            qseg = qmap[regs[query.name] + 1] + 1
            return kseg, kseg > 0, qseg, qseg > 0
        sel = head.pattern
        offset, top = self._key_range(sel.keys, sel.queries)
        kv = np.rint(numeric_view(sel.keys.type, regs[sel.keys.name])).astype(_I64) - offset
        qv = np.rint(numeric_view(sel.queries.type, regs[sel.queries.name])).astype(_I64) - offset
        kok = (kv >= 0) & (kv <= top)
        qok = (qv >= 0) & (qv <= top)
        if isinstance(sel.keys, Indices):
            qok &= qv + offset >= 1  # pointer 0 is the start token: its value is null
        return kv, kok, qv, qok

    def _start_sort(self, round: int, phase: Phase, machines, pos, regs: dict, out: Outbox) -> None:
        head = phase.head
        kseg, kok, qseg, qok = self._segments(head, regs)
        payload = [self.codec.to_words(v, regs[v.name]) for v in _head_payload(head)]
        data = np.stack([kseg, pos] + payload, axis=1)[kok]
        qpos = pos if self.graph.causal else pos + self.n + 1  # bidirectional: after every data record
        queries = np.stack([qseg, qpos, pos], axis=1)[qok]
        self._sorts[head.name].sample(out, Table(machines[kok], data), Table(machines[qok], queries), round)

    def _apply_replies(self, round: int, head: Head, inbox: Inbox, machines, pos, regs: dict) -> None:
        payload = _head_payload(head)
        rep = inbox.table(TAG_REPLY, 2 + len(payload))
        idx = np.searchsorted(pos, rep.rows[:, 0]) if len(rep) else np.zeros(0, _I64)
        if len(rep) and (np.any(idx >= len(pos)) or np.any(pos[np.minimum(idx, len(pos) - 1)] != rep.rows[:, 0])):
            raise ProtocolError(f"round {round}: a reply reached a machine that does not hold its position")
        found = rep.rows[:, 1] == 1
        has = np.zeros(len(pos), dtype=bool)
        has[idx[found]] = True  # no reply, or no data record found: the start token's null value
        for j, (out_reg, value) in enumerate(zip(head.outputs, head.values)):
            words = np.zeros(len(pos), dtype=_I64)
            words[idx[found]] = rep.rows[found, 2 + j]
            regs[out_reg.name] = np.where(has, self.codec.to_logical(value, words), null_array(value.type, len(pos)))

    def _send_histograms(self, phase: Phase, view: ShardView, machines, pos, regs: dict, out: Outbox) -> None:
        """Width head, round 1: each owner sends [owner, how many of its positions hold each key value]."""
        sel = phase.head.pattern
        bins = self._width_bins[phase.head.name]
        owners = np.arange(view.lo, min(view.hi, self.plan.owners), dtype=_I64)
        if len(owners) == 0:
            return
        keys = np.zeros(len(pos), dtype=_I64) if self._constant(phase.head) else regs[sel.keys.name]
        ok = keys >= 0
        hist = np.zeros((len(owners), bins), dtype=_I64)
        np.add.at(hist, (machines[ok] - view.lo, keys[ok]), 1)
        out.send(TAG_HIST, owners, np.full(len(owners), self.plan.owners), np.concatenate([owners[:, None], hist], axis=1))

    def _answer_histograms(self, phase: Phase, inbox: Inbox, out: Outbox) -> None:
        """Width head, round 2: the coordinator sends every owner the totals (bidirectional) or the
        sums over the owners before it (causal)."""
        coord = self.plan.owners
        if not inbox.view.lo <= coord < inbox.view.hi:
            return
        bins = self._width_bins[phase.head.name]
        hist = inbox.table(TAG_HIST, bins + 1).rows
        per_owner = np.zeros((self.plan.owners, bins), dtype=_I64)
        per_owner[hist[:, 0]] = hist[:, 1:]
        if self.graph.causal:
            counts = np.cumsum(per_owner, axis=0) - per_owner
        else:
            counts = np.broadcast_to(per_owner.sum(axis=0), per_owner.shape)
        out.send(TAG_COUNT, np.full(self.plan.owners, coord), np.arange(self.plan.owners), counts)

    def _apply_counts(self, head: Head, inbox: Inbox, machines, pos, regs: dict) -> None:
        """w_i = Σ over key values v selected by query_i of the count of v at visible positions."""
        sel = head.pattern
        bins = self._width_bins[head.name]
        got = inbox.table(TAG_COUNT, bins)
        base = np.zeros((len(pos), bins), dtype=_I64)
        if len(got):
            per_machine = dict(zip(got.machine.tolist(), range(len(got))))
            rows = np.array([per_machine[m] for m in machines.tolist()], dtype=_I64)
            base = got.rows[rows]
        keys = np.zeros(len(pos), dtype=_I64) if self._constant(head) else regs[sel.keys.name]
        if self.graph.causal:  # add the owner's own positions j ≤ i
            onehot = np.zeros((len(pos), bins), dtype=_I64)
            ok = keys >= 0
            onehot[np.flatnonzero(ok), keys[ok]] = 1
            running = np.cumsum(onehot, axis=0)
            first = np.flatnonzero(np.concatenate(([True], machines[1:] != machines[:-1])))
            starts = np.repeat(first, np.diff(np.append(first, len(machines))))
            before = np.where(starts[:, None] > 0, running[np.maximum(starts - 1, 0)], 0)
            base = base + running - before
        if self._constant(head):
            selected = np.full((len(pos), 1), 1 if sel.predicate is Comparison.TRUE else 0)
        else:
            table = np.array([[int(sel.predicate(kv, qv)) for kv in sel.keys.type.proper_values]
                              for qv in sel.queries.type.proper_values], dtype=_I64).reshape(
                len(sel.queries.type.proper_values), bins)
            q = regs[sel.queries.name]
            selected = np.where((q >= 0)[:, None], table[np.maximum(q, 0)], 0)
        regs[self._steps[head.name].name] = (base * selected).sum(axis=1).astype(float)


def run_program(program: Program, tokens: Sequence, *, memory: int | None = None, delta: float | None = None,
                c: int = 1, backend=None, strict: bool = True) -> tuple[list, Result, ProgramProtocol]:
    """Run ``program`` on one token sequence on the simulator: (outputs, Result, protocol)."""
    vocab = program.vocab
    index = {v: j for j, v in enumerate(vocab)}
    try:
        ids = np.array([index[t] if vocab else 0 for t in tokens], dtype=_I64)
    except KeyError as exc:
        raise ValueError(f"token {exc.args[0]!r} is not in the program's vocabulary") from None
    protocol = ProgramProtocol(program, len(ids), memory=memory, delta=delta, c=c)
    result = Simulator(backend, strict=strict, max_rounds=protocol.expected_rounds).run(protocol, ids)
    return result.output, result, protocol


__all__ = ["ProgramPlan", "ProgramProtocol", "WordCodec", "plan_memory", "run_program"]
