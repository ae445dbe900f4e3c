"""The Ray backend: shards on a few host actors, batches passed actor to actor as object refs
(ARCHITECTURE "Messages are batches" and "Faults"; P2 Def. 2.3 for the round itself).

Layout. Machines 0..q-1 are split into ``num_hosts`` contiguous shards (``rounds.shard_bounds``);
shard j lives on host actor j, a long-lived Ray actor that runs the same ``shard_step`` /
``shard_deliver`` / ``shard_output`` as the in-process backend. A logical machine is never an actor
(RAY_NOTES §0: 64 actors cost 85-95 ms a round, 2 hosts 2.5-11 ms).

Data flow of round r. The driver asks every host to step; a host returns its metadata and its
outgoing messages split by destination shard as *separate* return values (``num_returns = k + 1``),
so the driver owns one ref per (source shard, destination shard) batch without fetching it. The
driver then hands destination j the refs of column j; host j fetches them, merges them into its
new memory and reports the words received. The driver reads only ``StepMeta`` / ``DeliverMeta``
(a halt flag, per-machine counts, violations). (Ray stores a return value under 100 KiB inline with
its owner, so small batches do sit in the driver's object table, as bytes it never decodes; larger
ones stay in the shared-memory object store.)

Faults. Rounds are deterministic functions of memory, and the driver keeps, per shard, the refs
of the batches that make up its current memory (the initial placement, or what was delivered in
the previous round): that is the checkpoint. When a host dies, the driver creates a new actor,
rebuilds the shard's memory from the checkpoint and recomputes the call that failed. The output
and the Trace are the same as without the fault; ``recoveries`` counts the rebuilt hosts.
``fault_injection`` kills a host's process with SIGKILL at a chosen round, to exercise this.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..errors import BackendError
from ..messages import Messages
from ..protocol import Protocol
from ..ray_setup import RaySession, import_ray, init_ray
from ..rounds import shard_bounds, shard_deliver, shard_output, shard_step, split_initial_memory
from .base import Backend, DeliverMeta, StepMeta

ray = import_ray()  # sets the loopback/auth environment before Ray is first imported

MAX_ATTEMPTS_PER_CALL = 3  # a host that dies 3 times on one call is a bug, not bad luck
FAULT_PHASES = ("step", "deliver")


class ShardHost:
    """A Ray actor hosting one shard [lo, hi) of one run at a time (reused across runs).

    Memory between rounds stays here; nothing else persists (P2 Def. 2.3). Every method is the
    shared round code of ``mpcsim.rounds`` applied to this shard.
    """

    def __init__(self) -> None:
        self._protocol: Protocol | None = None
        self._memory = Messages.empty()

    def identity(self) -> tuple[int, str]:
        """(process id, Ray node id): what the driver needs to kill this process for a fault test."""
        return os.getpid(), ray.get_runtime_context().get_node_id()

    def start(self, protocol_blob: bytes, lo: int, hi: int, starts: np.ndarray, memory_refs: list) -> None:
        """Take on shard [lo, hi) of a run, its memory being the batches behind ``memory_refs``."""
        try:
            protocol = ray.cloudpickle.loads(protocol_blob)
        except Exception as exc:
            raise BackendError(
                f"a Ray worker could not load the protocol ({type(exc).__name__}: {exc}); workers import "
                "protocol classes by module name, so define them in an importable module (or put its "
                "directory on PYTHONPATH before Ray starts)"
            ) from None
        self._protocol, self._lo, self._hi, self._starts = protocol, lo, hi, starts
        self._memory = self._merge(0, memory_refs)[0]

    def _merge(self, round: int, refs: list):
        return shard_deliver(self._protocol.config, round, self._lo, self._hi, ray.get(refs))

    def step(self, round: int) -> tuple:
        """Local_round on the shard: (StepMeta, batch for shard 0, ..., batch for shard k-1)."""
        res = shard_step(self._protocol, round, self._lo, self._hi, self._memory, self._starts)
        return (StepMeta(res.halt, res.held, res.sent, res.violations), *res.outgoing)

    def deliver(self, round: int, refs: list) -> DeliverMeta:
        """The shard's memory becomes the batches behind ``refs`` (one per source shard)."""
        self._memory, received, violations = self._merge(round, refs)
        return DeliverMeta(received, violations)

    def output(self) -> tuple[np.ndarray, np.ndarray]:
        return shard_output(self._protocol, self._lo, self._hi, self._memory)

    def clear(self) -> None:
        """Drop the finished run's protocol and memory."""
        self._protocol, self._memory = None, Messages.empty()


@dataclass(frozen=True)
class FaultInjection:
    """Kill host ``host``'s process (SIGKILL) in round ``round``, just before its ``phase``
    ("step": its memory for the round is lost; "deliver": the batches it was about to receive
    must be fetched again). Fires once in every run that reaches that round with that host."""

    round: int
    host: int
    phase: str = "step"

    def __post_init__(self) -> None:
        if self.round < 1:
            raise ValueError(f"fault_injection round must be >= 1, got {self.round}")
        if self.host < 0:
            raise ValueError(f"fault_injection host must be >= 0, got {self.host}")
        if self.phase not in FAULT_PHASES:
            raise ValueError(f"fault_injection phase must be one of {FAULT_PHASES}, got {self.phase!r}")

    @staticmethod
    def coerce(spec: "FaultInjection | Mapping | None") -> "FaultInjection | None":
        if spec is None or isinstance(spec, FaultInjection):
            return spec
        unknown = set(spec) - {"round", "host", "phase"}
        if unknown:
            raise ValueError(f"fault_injection has unknown keys {sorted(unknown)}; use round, host, phase")
        return FaultInjection(**spec)


@dataclass
class _Host:
    handle: object
    pid: int
    node_id: str


def _unwrap(err: Exception, what: str) -> Exception:
    """The exception to show the caller for a failed actor call: the protocol's own exception
    (ProtocolError, a violation error, a ValueError, ...) for errors raised in user code, with the
    remote traceback as a note; a ``BackendError`` for Ray's own failures."""
    if isinstance(err, ray.exceptions.RayTaskError):
        cause = err.cause
        if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
            cause.add_note(f"raised in Ray {what}:\n{err}")  # str(err) holds the remote traceback
            return cause
    return BackendError(f"Ray {what} failed: {type(err).__name__}: {err}")


class RayBackend(Backend):
    """Runs each shard on one of ``num_hosts`` Ray host actors (at most one shard per actor).

    ``address`` joins an existing cluster (default: start a local one, or reuse the Ray already
    running in this process); ``init_timeout`` bounds ``ray.init`` in seconds. Actors are created
    once and reused by every run; call ``close()`` to release them. ``fault_injection``
    (a ``FaultInjection`` or a dict with keys round, host, phase) kills a host during each run.
    """

    name = "ray"

    def __init__(self, num_hosts: int = 2, address: str | None = None, init_timeout: float = 60,
                 fault_injection: FaultInjection | Mapping | None = None):
        if not isinstance(num_hosts, int) or num_hosts < 1:
            raise ValueError(f"num_hosts must be an int >= 1, got {num_hosts!r}")
        self.fault_injection = fault_injection
        self.num_hosts = num_hosts
        self.recoveries = 0
        self.session: RaySession = init_ray(address, init_timeout)
        self._actor_class = ray.remote(num_cpus=0, max_restarts=0)(ShardHost)
        self._hosts: list[_Host] = self._spawn(num_hosts)
        self._run_refs_clear()

    @property
    def fault_injection(self) -> FaultInjection | None:
        """The fault injected into every run (None: no fault); settable with a dict or a FaultInjection."""
        return self._fault

    @fault_injection.setter
    def fault_injection(self, spec: FaultInjection | Mapping | None) -> None:
        self._fault = FaultInjection.coerce(spec)

    # ---- host actors ---------------------------------------------------------------------------
    def _spawn(self, count: int) -> list[_Host]:
        handles = [self._actor_class.remote() for _ in range(count)]
        try:
            identities = ray.get([h.identity.remote() for h in handles])
        except ray.exceptions.RayError as exc:
            raise BackendError(f"could not start {count} Ray host actor(s): {exc}") from None
        return [_Host(h, pid, node) for h, (pid, node) in zip(handles, identities)]

    @property
    def host_pids(self) -> list[int]:
        """The OS process ids of the host actors (shard j runs on host j)."""
        return [h.pid for h in self._hosts]

    def _kill(self, j: int) -> None:
        """Kill host j's process: SIGKILL by pid when it runs on this node, else ``ray.kill``."""
        host = self._hosts[j]
        if host.node_id == ray.get_runtime_context().get_node_id():
            try:
                os.kill(host.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            ray.kill(host.handle, no_restart=True)

    def _revive(self, j: int) -> None:
        """Replace dead host j by a new actor whose memory is rebuilt from shard j's checkpoint."""
        ray.kill(self._hosts[j].handle, no_restart=True)
        self._hosts[j] = self._spawn(1)[0]
        self.recoveries += 1
        lo, hi = self._bounds[j]
        ray.get(self._hosts[j].handle.start.remote(self._protocol_blob, lo, hi, self._starts, self._checkpoint[j]))

    def _call_all(self, submit: Callable[[int, object], object], what: str) -> list:
        """Submit ``submit(j, handle)`` (returning one ref, or a list whose first ref is the
        metadata) on every shard's host, then collect the metadata; a host that died is revived
        and its call resubmitted. Returns the per-shard return refs and values."""
        refs = [submit(j, self._hosts[j].handle) for j in range(len(self._bounds))]
        values = []
        for j in range(len(self._bounds)):
            for attempt in range(1, MAX_ATTEMPTS_PER_CALL + 1):
                head = refs[j][0] if isinstance(refs[j], list) else refs[j]
                try:
                    values.append(ray.get(head))
                    break
                except ray.exceptions.RayActorError as exc:
                    if attempt == MAX_ATTEMPTS_PER_CALL:
                        raise BackendError(f"Ray host {j} died {attempt} times during {what}: {exc}") from None
                    try:
                        self._revive(j)
                    except ray.exceptions.RayActorError:
                        continue  # the new host died while loading; the next attempt revives again
                    refs[j] = submit(j, self._hosts[j].handle)
                except ray.exceptions.RayError as exc:
                    raise _unwrap(exc, f"host {j} ({what})") from None
        return list(zip(refs, values))

    def _maybe_inject(self, round: int, phase: str) -> None:
        fault = self._fault
        if fault is not None and fault.round == round and fault.phase == phase and fault.host < len(self._bounds):
            self._kill(fault.host)

    # ---- Backend interface ------------------------------------------------------------------------
    def start(self, protocol: Protocol, initial: Messages) -> list[tuple[int, int]]:
        if not self._hosts:
            raise BackendError("this RayBackend was closed; create a new one")
        q = protocol.config.q
        self._bounds = shard_bounds(q, self.num_hosts)
        self._starts = np.array([lo for lo, _ in self._bounds], dtype=np.int64)
        try:
            blob = ray.cloudpickle.dumps(protocol)
        except Exception as exc:
            raise BackendError(f"the Ray backend cannot pickle {type(protocol).__name__}: {exc}") from None
        self._protocol_blob = ray.put(blob)
        self._checkpoint = [[ray.put(mem)] for mem in split_initial_memory(initial, self._bounds, q)]
        self._call_all(
            lambda j, h: h.start.remote(self._protocol_blob, *self._bounds[j], self._starts, self._checkpoint[j]),
            "start",
        )
        return self._bounds

    def step(self, round: int) -> list[StepMeta]:
        self._maybe_inject(round, "step")
        k = len(self._bounds)
        results = self._call_all(lambda j, h: h.step.options(num_returns=k + 1).remote(round), f"round {round} step")
        self._outgoing = [refs[1:] for refs, _ in results]
        return [meta for _, meta in results]

    def deliver(self, round: int) -> list[DeliverMeta]:
        self._maybe_inject(round, "deliver")
        columns = [[row[j] for row in self._outgoing] for j in range(len(self._bounds))]
        results = self._call_all(lambda j, h: h.deliver.remote(round, columns[j]), f"round {round} deliver")
        self._checkpoint, self._outgoing = columns, []
        return [meta for _, meta in results]

    def outputs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [value for _, value in self._call_all(lambda j, h: h.output.remote(), "output")]

    def finish(self) -> None:
        """Drop this run's refs and let the hosts free their memory (the hosts stay up)."""
        for host in self._hosts:
            host.handle.clear.remote()
        self._run_refs_clear()

    def _run_refs_clear(self) -> None:
        self._bounds: list[tuple[int, int]] = []
        self._checkpoint: list[list] = []
        self._outgoing: list[list] = []
        self._protocol_blob = None

    def close(self) -> None:
        """Kill the host actors (Ray itself keeps running; see ``ray_setup.shutdown_ray``)."""
        for host in self._hosts:
            ray.kill(host.handle, no_restart=True)
        self._hosts = []
        self._run_refs_clear()

    def __enter__(self) -> "RayBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
