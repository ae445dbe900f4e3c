"""Starting or joining Ray safely for the Ray backend (ARCHITECTURE "Messages are batches";
RAY_NOTES.md §0, §3).

Three things here are easy to get wrong, so they live in one place:

* Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when it is *imported*; set to 0 it makes a local
  cluster use 127.0.0.1 and bind every listener there (RAY_NOTES §3.3). ``import_ray`` sets it,
  with ``RAY_AUTH_MODE=disabled`` (no token file, no warning) and ``RAY_USAGE_STATS_ENABLED=0``,
  before the first ``import ray``. Import Ray through it, never directly.
* A local cluster writes sockets and logs under its temp dir; we give each run a short private
  one (Unix socket paths are capped near 107 bytes) and delete it on shutdown.
* ``ray.init`` can hang forever (for instance with no usable loopback, RAY_NOTES §3.3), so
  ``init_ray`` runs it under a deadline and raises ``BackendError`` instead.
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from types import ModuleType

from .errors import BackendError

RAY_ENV_DEFAULTS = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP 127.0.0.1: every listener on loopback
    "RAY_AUTH_MODE": "disabled",  # Ray >= 2.59 turns on token auth for local clusters otherwise
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage reporting (matters for the `ray start` CLI)
}

LOCAL_NUM_CPUS = 2  # the CPUs a local cluster schedules; host actors ask for num_cpus=0 anyway
OBJECT_STORE_BYTES = 256 * 1024**2  # plenty for per-round batches; Ray's default is 30 % of RAM
CONNECT_PROBE_SECONDS = 5.0  # a TCP connect to a live GCS on a LAN answers in milliseconds

_TMPDIR_PREFIX = "/tmp/mpcray-"  # short: Ray nests socket paths ~60 bytes deeper


@dataclass(frozen=True)
class RaySession:
    """What ``init_ray`` set up: the GCS address, whether we started the cluster, its temp dir
    (None when joining) and the seconds ``ray.init`` took (0 when Ray was already running)."""

    gcs_address: str
    started_here: bool
    temp_dir: str | None
    init_seconds: float


_session: RaySession | None = None
_owned_tmpdir: str | None = None
_init_thread_release: threading.Event | None = None


def import_ray() -> ModuleType:
    """Set the loopback/auth/usage environment variables (unless the user set them), then import Ray.

    If Ray was imported earlier without them, a local cluster would listen on every interface;
    that is reported as a RuntimeWarning rather than silently accepted.
    """
    already = "ray" in sys.modules
    for key, value in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    import ray
    from ray._private import ray_constants

    if already and ray_constants.ENABLE_RAY_CLUSTER:
        warnings.warn(
            "ray was imported before mpcsim.ray_setup set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, so a local "
            "cluster will listen on every interface, not only 127.0.0.1; import mpcsim.ray_setup first",
            RuntimeWarning,
            stacklevel=2,
        )
    return ray


def _probe_gcs(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at ``host:port`` (``ray.init`` would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise BackendError(f"Ray address {address!r} is not of the form host:port (or 'auto', 'local', 'ray://...')")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise BackendError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


def _private_tmpdir() -> str:
    """A fresh short directory for this process's local cluster; also exported as RAY_TMPDIR so
    every Ray process agrees on it."""
    global _owned_tmpdir
    if _owned_tmpdir is None:
        _owned_tmpdir = tempfile.mkdtemp(prefix=os.path.basename(_TMPDIR_PREFIX), dir=os.path.dirname(_TMPDIR_PREFIX))
        atexit.register(shutil.rmtree, _owned_tmpdir, True)
    os.environ["RAY_TMPDIR"] = _owned_tmpdir
    return _owned_tmpdir


class _DropThreadWarning(logging.Filter):
    """Ray warns that it cannot install its SIGTERM handler off the main thread; we install an
    equivalent one ourselves (see ``_keep_sigterm_cleanup``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def _keep_sigterm_cleanup() -> None:
    """Ray's own handler: SIGTERM -> sys.exit, so atexit shuts the cluster down (RAY_NOTES §3.2).
    Installed only from the main thread and only over the default action."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))


def _init_with_deadline(ray: ModuleType, timeout: float, kwargs: dict) -> None:
    """Run ``ray.init(**kwargs)`` in a helper thread and wait at most ``timeout`` seconds.

    The helper thread must outlive the cluster: Ray starts gcs_server and raylet with
    prctl(PR_SET_PDEATHSIG), which Linux fires when the *thread* that forked them exits. So after
    a successful init the thread parks until ``shutdown_ray`` releases it.
    """
    global _init_thread_release
    outcome: dict = {}
    done = threading.Event()
    release = threading.Event()

    def target() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
            done.set()
            return
        done.set()
        release.wait()

    _release_init_thread()
    worker_logger = logging.getLogger("ray._private.worker")
    thread_filter = _DropThreadWarning()
    worker_logger.addFilter(thread_filter)
    _keep_sigterm_cleanup()
    thread = threading.Thread(target=target, name="mpcsim-ray-init", daemon=True)
    try:
        thread.start()
        finished = done.wait(timeout)
    finally:
        worker_logger.removeFilter(thread_filter)
    if not finished:
        where = kwargs.get("address") or f"a new local cluster (temp dir {kwargs.get('_temp_dir')})"
        raise BackendError(
            f"ray.init did not finish within {timeout:g} s while connecting to {where}; Ray may be "
            "half-started in this process, so restart the process before trying again"
        )
    if "error" in outcome:
        exc = outcome["error"]
        raise BackendError(f"ray.init failed: {type(exc).__name__}: {exc}") from exc
    _init_thread_release = release


def _release_init_thread() -> None:
    """Let the parked init thread of an earlier session end (its cluster is already shut down)."""
    global _init_thread_release
    if _init_thread_release is not None:
        _init_thread_release.set()
        _init_thread_release = None


def init_ray(address: str | None = None, timeout: float = 60.0) -> RaySession:
    """Start a local Ray cluster, or join the one at ``address``, within ``timeout`` seconds.

    Local: ``num_cpus=2``, no dashboard, workers' logs not forwarded, a 256 MiB object store and a
    private temp dir. ``address`` ('host:port', 'auto', or a 'ray://' client URL) joins an existing
    cluster (so does the RAY_ADDRESS variable, as for ``ray.init``); a host:port nobody listens on
    fails at once. If Ray is already initialised in this
    process the running session is reused, provided it is the one ``address`` names.
    """
    global _session
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    address = address or os.environ.get("RAY_ADDRESS") or None  # as ray.init itself would
    ray = import_ray()
    if ray.is_initialized():
        current = _gcs_address(ray, address)
        if address not in (None, "auto", "local") and "://" not in address and address != current:
            raise BackendError(f"Ray is already connected to {current}; cannot also join {address} in one process")
        if _session is None or _session.gcs_address != current:
            _session = RaySession(current, False, None, 0.0)
        return _session

    kwargs: dict = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    started_here = address in (None, "local")
    if started_here:
        kwargs.update(num_cpus=LOCAL_NUM_CPUS, object_store_memory=OBJECT_STORE_BYTES, _temp_dir=_private_tmpdir())
    else:
        kwargs.update(address=address)
        if address != "auto" and "://" not in address:
            _probe_gcs(address, min(timeout, CONNECT_PROBE_SECONDS))
    t0 = time.perf_counter()
    _init_with_deadline(ray, timeout, kwargs)
    if started_here:
        # registered after Ray's own atexit hook, so it runs first: stop Ray, then delete the dir
        atexit.register(shutdown_ray)
    _session = RaySession(
        _gcs_address(ray, address),
        started_here,
        kwargs.get("_temp_dir"),
        time.perf_counter() - t0,
    )
    return _session


def _gcs_address(ray: ModuleType, fallback: str | None) -> str:
    """The connected cluster's GCS address (a Ray-client session has none; then the URL given)."""
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:
        return fallback or "unknown"


def shutdown_ray() -> None:
    """Disconnect from (and, if we started it, stop) Ray, and delete our private temp dir."""
    global _session, _owned_tmpdir
    if "ray" in sys.modules:
        ray = sys.modules["ray"]
        if ray.is_initialized():
            ray.shutdown()
    _release_init_thread()
    _session = None
    if _owned_tmpdir is not None:
        shutil.rmtree(_owned_tmpdir, ignore_errors=True)
        if os.environ.get("RAY_TMPDIR") == _owned_tmpdir:
            del os.environ["RAY_TMPDIR"]
        _owned_tmpdir = None
