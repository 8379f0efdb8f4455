"""Fixtures of the test suite (the repository's conftest.py configures hypothesis and
the documentation snippets)."""

from __future__ import annotations

import sys

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated():
    """Every test starts from the same random state and with one torch thread.

    The seed makes each test's draws its own, whatever ran before it on its worker
    (pytest-xdist orders the tests differently from run to run). One thread: the models
    under test are tiny (one thread is fastest), and the workers share the cores; a test
    that changes the count (a benchmark, a worker pool) cannot leak it."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------- tolerance audit
# `pytest --tolerance-audit FILE` records, for every torch.testing.assert_close call that
# passes, how far each compared value was from failing: the allowance
# (atol + rtol * |expected|) over the error, at the tightest element. A tolerance many
# times looser than the error it guards lets a wrong result through; the audit lists them
# (benchmarks/tolerance_audit.py runs it under both CPU capabilities).
_DEFAULT_TOLERANCES = {  # torch.testing's own defaults, by dtype: (rtol, atol)
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


def pytest_addoption(parser):
    parser.addoption(
        "--tolerance-audit",
        default=None,
        help="write each assert_close's allowance / error ratio to this JSON file",
    )


@pytest.fixture(autouse=True)
def _tolerance_audit(request, monkeypatch):
    path = request.config.getoption("--tolerance-audit")
    if path is None:
        yield
        return
    original = torch.testing.assert_close
    records = request.config.__dict__.setdefault("_tolerance_records", [])

    def recording(actual, expected, *args, **kwargs):
        original(actual, expected, *args, **kwargs)  # fails as it would
        if not (isinstance(actual, torch.Tensor) and isinstance(expected, torch.Tensor)):
            return
        if not actual.is_floating_point() or actual.numel() == 0:
            return
        rtol, atol = kwargs.get("rtol"), kwargs.get("atol")
        default_rtol, default_atol = _DEFAULT_TOLERANCES.get(actual.dtype, (0.0, 0.0))
        rtol = float(default_rtol if rtol is None else rtol)  # a tensor or numpy value too
        atol = float(default_atol if atol is None else atol)
        a = actual.detach().double().cpu()
        e = expected.detach().double().cpu().expand_as(a)
        error = (a - e).abs()
        allowance = atol + rtol * e.abs()
        ratio = (allowance / error).min().item() if bool((error > 0).any()) else float("inf")
        caller = sys._getframe(1)  # the test's line
        where = caller.f_code.co_filename.rsplit("/tests/", 1)[-1]
        records.append(
            {
                "test": request.node.nodeid,
                "line": f"{where}:{caller.f_lineno}",
                "atol": atol,
                "rtol": rtol,
                "max_error": error.max().item(),
                "ratio": ratio,
                "explicit": "atol" in kwargs or "rtol" in kwargs,
            }
        )

    monkeypatch.setattr(torch.testing, "assert_close", recording)
    yield


def pytest_sessionfinish(session):
    path = session.config.getoption("--tolerance-audit")
    records = session.config.__dict__.get("_tolerance_records")
    if path is None or records is None:
        return
    import json
    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    target = f"{path}.{worker}" if worker else path
    text = json.dumps(records)  # whole, before anything is written
    with open(target, "w") as handle:
        handle.write(text)
