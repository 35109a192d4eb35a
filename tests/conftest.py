"""Shared fixtures of the unit tests: tiny models, generators, and an offline downloader."""
from __future__ import annotations

import pytest
import torch

import cl_course.data


def pytest_configure(config):
    # The unit tests use tiny tensors: one intra-op thread avoids OpenMP's spin-waiting, which
    # made them 10-100x slower on a busy 2-core machine.
    torch.set_num_threads(1)


@pytest.fixture
def offline(monkeypatch):
    """Make every download fail as on an offline machine, without touching the network."""
    calls = []

    def fail(name, root):
        calls.append((name, root))
        raise OSError("network is unreachable (simulated by the tests)")

    monkeypatch.setattr(cl_course.data, "_download", fail)
    return calls


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.fixture
def clean_env(monkeypatch):
    """Unset the course's environment variables (the root conftest sets some for nbval), so a
    test sees the package's own defaults; a test sets what it needs with monkeypatch."""
    for var in ("CL_COURSE_DATA", "CL_COURSE_PROFILE", "CL_COURSE_OUTPUT", "CL_COURSE_NO_DOWNLOAD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CL_COURSE_QUIET", "1")
