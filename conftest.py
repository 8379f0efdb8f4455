"""Fixtures for the code blocks of README.md and docs/ (run by pytest-markdown-docs)."""

import os

import pytest
from hypothesis import settings

# CI draws the same examples on every run (a failure there is reproducible); locally
# the draws vary, to explore. HYPOTHESIS_PROFILE=ci reproduces CI's draws.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


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
