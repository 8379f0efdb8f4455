"""Fixtures for the code blocks of README.md and docs/ (run by pytest-markdown-docs)."""

import pytest


@pytest.fixture
def run_in_tmp_path(tmp_path, monkeypatch):
    """Run a documentation snippet in a fresh directory, so its files do not land in the repo."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_configure(config):
    # The models under test are tiny: one thread is fastest, and with pytest-xdist's
    # workers sharing the cores, more threads mostly wait on each other.
    import torch

    torch.set_num_threads(1)
