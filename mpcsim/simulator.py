"""The round loop of an MPC run, the same for every backend (P2 Def. 2.3).

Each round: every shard computes and sends (send-side checks), then messages are routed and
every machine's memory becomes what it received (receive-side checks). In strict mode the first
violation (ordered by round, kind, machine) is raised as a typed error; otherwise violations are
recorded in the Trace and the run continues. A run stops at the first round in which every shard
votes to halt, or fails with ``RoundCapExceeded``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import Backend, InProcessBackend
from .errors import ProtocolError, RoundCapExceeded
from .protocol import Protocol
from .trace import RoundRecord, Trace


@dataclass(eq=False)
class Result:
    """Output of a run: the decoded answer, the raw output words (in machine order) and the Trace."""

    output: Any
    output_words: np.ndarray
    output_machines: np.ndarray
    trace: Trace

    @property
    def rounds(self) -> int:
        return self.trace.num_rounds


class Simulator:
    """Runs protocols on a backend. ``strict`` (default) raises on the first violated limit;
    ``max_rounds`` is the round cap; ``progress`` shows a progress bar."""

    def __init__(self, backend: Backend | None = None, *, strict: bool = True, max_rounds: int = 100_000,
                 progress: bool = False):
        if max_rounds < 0:
            raise ValueError(f"max_rounds must be >= 0, got {max_rounds}")
        self.backend = backend or InProcessBackend()
        self.strict = strict
        self.max_rounds = max_rounds
        self.progress = progress

    def run(self, protocol: Protocol, inputs) -> Result:
        cfg = protocol.config
        inputs = np.asarray(inputs, dtype=np.int64).reshape(-1)
        if len(inputs) != cfg.n:
            raise ProtocolError(f"protocol expects n = {cfg.n} input words, got {len(inputs)}")
        if len(inputs) and (inputs.min() < 0 or inputs.max() >= cfg.word_limit):
            bad = int(inputs[(inputs < 0) | (inputs >= cfg.word_limit)][0])
            raise ProtocolError(f"input word {bad} is outside [0, 2^{cfg.word_bits})")
        trace = Trace(cfg)
        backend = self.backend
        bounds = backend.start(protocol, protocol.initial_memory(inputs))
        bar = self._progress_bar(protocol)
        try:
            round = 0
            while True:
                round += 1
                steps = backend.step(round)
                if all(m.halt for m in steps):
                    trace.final_memory_max = int(max((m.held.max(initial=0) for m in steps), default=0))
                    self._handle([v for m in steps for v in m.violations if v.kind == "memory"], trace)
                    break
                if round > self.max_rounds:
                    raise RoundCapExceeded(self.max_rounds)
                self._handle([v for m in steps for v in m.violations], trace)
                delivered = backend.deliver(round)
                self._handle([v for m in delivered for v in m.violations], trace)
                trace.rounds.append(RoundRecord.concat(round, [
                    RoundRecord.from_dense(round, lo, st.held, st.sent, dl.received)
                    for (lo, _), st, dl in zip(bounds, steps, delivered)
                ]))
                if bar is not None:
                    bar.update(1)
            per_shard = backend.outputs()
        finally:
            backend.finish()
            if bar is not None:
                bar.close()
        counts = np.concatenate([c for c, _ in per_shard])
        words = np.concatenate([w for _, w in per_shard]) if per_shard else np.zeros(0, np.int64)
        machines = np.repeat(np.arange(cfg.q, dtype=np.int64), counts)
        return Result(protocol.decode_output(words), words, machines, trace)

    def _handle(self, violations, trace: Trace) -> None:
        if not violations:
            return
        violations = sorted(violations, key=lambda v: v.sort_key())
        if self.strict:
            raise violations[0].to_error()
        trace.violations.extend(violations)

    def _progress_bar(self, protocol: Protocol):
        if not self.progress:
            return None
        from tqdm import tqdm

        total = getattr(protocol, "expected_rounds", None)
        return tqdm(total=total, unit="round", desc=type(protocol).__name__, leave=False)
