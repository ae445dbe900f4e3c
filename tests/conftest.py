"""Shared test settings: hypothesis profiles so local runs and CI agree (RAY_NOTES.md §5)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=40,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# ---- Ray (RAY_NOTES.md §3.4): one local cluster per test session, one shared backend ----------------
import pathlib  # noqa: E402

import pytest  # noqa: E402

_TESTS_DIR = str(pathlib.Path(__file__).resolve().parent)


@pytest.fixture(scope="session")
def ray_session():
    """Start Ray once for the whole session (init ~3-5 s, shutdown ~1-5 s) and stop it at the end.

    Ray workers unpickle protocol classes defined in test modules by module name, so the tests
    directory is put on the PYTHONPATH that the cluster's processes inherit (RAY_NOTES §3.4, fix 2).
    """
    from mpcsim.ray_setup import init_ray, shutdown_ray

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_TESTS_DIR, saved) if p)
    try:
        session = init_ray(timeout=120)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    yield session
    shutdown_ray()


@pytest.fixture(scope="session")
def ray_backend(ray_session):
    """A 2-host RayBackend shared by every Ray test (creating host actors costs ~0.3 s each)."""
    from mpcsim.backends.ray_backend import RayBackend

    backend = RayBackend(num_hosts=2)
    yield backend
    backend.close()
