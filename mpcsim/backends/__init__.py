"""Backends that host the shards of an MPC run: in-process (default, reference) and Ray."""
from .base import Backend
from .inprocess import InProcessBackend


def make_backend(name: str, **options) -> Backend:
    """``inprocess`` or ``ray`` (options go to the backend's constructor)."""
    if name == "inprocess":
        return InProcessBackend(**options)
    if name == "ray":
        from .ray_backend import RayBackend

        return RayBackend(**options)
    raise ValueError(f"unknown backend {name!r}; choose 'inprocess' or 'ray'")


__all__ = ["Backend", "InProcessBackend", "make_backend"]
