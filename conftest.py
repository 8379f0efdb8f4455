"""Fixtures for the code blocks of README.md and docs/ (run by pytest-markdown-docs)."""

import pytest


@pytest.fixture
def run_in_tmp_path(tmp_path, monkeypatch):
    """Run a documentation snippet in a fresh directory, so its files do not land in the repo."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
