"""Fixtures of the test suite (the repository's conftest.py configures hypothesis and
the documentation snippets)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts with one torch thread and leaves it so: the models under test
    are tiny (one thread is fastest), and under pytest-xdist the workers share the
    cores. A test that changes the count (a benchmark, a worker pool) cannot leak it."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)
