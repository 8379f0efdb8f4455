"""Our backsolve adjoint (``solve/_backsolve.py``), on every backend, against exact gradients.

A linear field ``f(z) = z A^T`` has the solution ``z(t) = z0 exp(A t)^T``, which
``torch.linalg.matrix_exp`` differentiates exactly: the adjoint's gradients with
respect to ``z0`` and ``A`` are compared with those, at the solve's tolerance.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anode_plugin import BACKENDS, NFEBudgetExceeded
from anode_plugin.solve import ErrorNorm
from anode_plugin.solve._backsolve import backsolve_adjoint
from anode_plugin.solve._evaluations import Limits
from anode_plugin.solve._solve import BACKEND_TYPES

pytestmark = pytest.mark.numerics

TOL = 1e-10
T = torch.tensor([0.0, 0.3, 0.7, 1.0], dtype=torch.float64)


class Linear(nn.Module):
    """``f(z) = z A^T``, counting its calls; ``unused`` takes no part in the field."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a.clone())
        self.unused = nn.Parameter(torch.ones(3, dtype=a.dtype))
        self.calls = 0

    def forward(self, t, z):
        self.calls += 1
        return z @ self.a.T


def _setup(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = 0.6 * torch.randn(3, 3, generator=g, dtype=torch.float64)
    z0 = torch.randn(4, 3, generator=g, dtype=torch.float64)
    weights = torch.randn(len(T), 4, 3, generator=g, dtype=torch.float64)
    return a, z0, weights


def _exact(a, z0, weights, integral=False):
    """The loss and its exact gradients with respect to ``z0`` and ``A``."""
    a = a.clone().requires_grad_(True)
    z0 = z0.clone().requires_grad_(True)
    states = torch.stack([z0 @ torch.linalg.matrix_exp(a * t).T for t in T])
    loss = (weights * states).sum()
    if integral:
        # ∫_0^1 |z(t)|^2 dt by Simpson's rule on 201 points: error ~1e-11 here.
        grid = torch.linspace(0, 1, 201, dtype=torch.float64)
        values = torch.stack([(z0 @ torch.linalg.matrix_exp(a * s).T).pow(2).sum() for s in grid])
        h = grid[1] - grid[0]
        loss = loss + h / 3 * (
            values[0] + values[-1] + 4 * values[1:-1:2].sum() + 2 * values[2:-1:2].sum()
        )
    return torch.autograd.grad(loss, (z0, a))


def _backsolve(
    backend, field, z0, weights, *, seminorm=False, integral=None, record=None, limits=None
):
    start = z0.clone().requires_grad_(True)
    ys = backsolve_adjoint(
        BACKEND_TYPES[backend](atol=TOL, rtol=TOL),
        field,
        start,
        T,
        norm=ErrorNorm(),
        limits=limits or Limits(),
        solver=None,
        atol=TOL,
        rtol=TOL,
        seminorm=seminorm,
        integral_loss=integral,
        record_backward=record,
    ).ys
    (weights * ys).sum().backward()
    return ys, start.grad, field.a.grad


# Largest differences from the exact gradients (z0 and A, both seminorms), measured on
# AVX512 and under ATEN_CPU_CAPABILITY=default (the same on both): torchdyn 9.9e-9,
# torchdiffeq 3.6e-10, torchode 1.1e-10 with a loss on every saved time; 1.5e-7, 3.7e-9
# and 4.5e-10 with the integral loss (gradients of size 17). Bounds: under 10x each.
BOUND = {"torchdyn": 9e-8, "torchdiffeq": 3.5e-9, "torchode": 1e-9}
BOUND_INTEGRAL = {"torchdyn": 1.5e-6, "torchdiffeq": 3.5e-8, "torchode": 4.5e-9}
SOLUTION_BOUND = {"torchdyn": 6e-9, "torchdiffeq": 9e-10, "torchode": 7e-10}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seminorm", [True, False])
def test_gradients_are_the_exact_ones_with_a_loss_at_every_saved_time(backend, seminorm):
    a, z0, weights = _setup()
    field = Linear(a)
    ys, grad_z0, grad_a = _backsolve(backend, field, z0, weights, seminorm=seminorm)
    exact_z0, exact_a = _exact(a, z0, weights)
    torch.testing.assert_close(grad_z0, exact_z0, rtol=0, atol=BOUND[backend])
    torch.testing.assert_close(grad_a, exact_a, rtol=0, atol=BOUND[backend])
    # The forward solution is the exact one too (measured: 6.6e-10 torchdyn, 9.4e-11
    # torchdiffeq, 7.7e-11 torchode); an unused parameter gets a zero gradient.
    expected = torch.stack([z0 @ torch.linalg.matrix_exp(a * t).T for t in T])
    torch.testing.assert_close(ys.detach(), expected, rtol=0, atol=SOLUTION_BOUND[backend])
    assert torch.equal(field.unused.grad, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_integral_loss_adds_its_gradients(backend):
    a, z0, weights = _setup(1)
    field = Linear(a)

    def integral(t, z):
        return z.pow(2).sum(1)

    _, grad_z0, grad_a = _backsolve(backend, field, z0, weights, integral=integral)
    exact_z0, exact_a = _exact(a, z0, weights, integral=True)
    torch.testing.assert_close(grad_z0, exact_z0, rtol=0, atol=BOUND_INTEGRAL[backend])
    torch.testing.assert_close(grad_a, exact_a, rtol=0, atol=BOUND_INTEGRAL[backend])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backward_solve_reports_its_statistics_once_for_all_segments(backend):
    a, z0, weights = _setup()
    field = Linear(a)
    recorded = []
    _, _, _ = _backsolve(backend, field, z0, weights, record=recorded.append)
    (stats,) = recorded  # one backward solve, three segments
    forward_calls = _forward_calls(backend, a, z0)
    assert stats.nfe == field.calls - forward_calls > 0
    assert stats.accepted >= len(T) - 1  # at least a step per segment
    assert stats.per_sample is None  # the adjoint's state has no batch dimension


def _forward_calls(backend: str, a, z0) -> int:
    field = Linear(a)
    with torch.no_grad():
        BACKEND_TYPES[backend](atol=TOL, rtol=TOL).integrate(field, z0, T)
    return field.calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_budget_holds_for_the_whole_backward_solve(backend):
    a, z0, weights = _setup()
    budget = _forward_calls(backend, a, z0) + 5  # enough forward, too little backward
    with pytest.raises(NFEBudgetExceeded) as info:
        _backsolve(backend, Linear(a), z0, weights, limits=Limits(max_nfe=budget))
    error = info.value
    assert error.direction == "backward" and error.nfe == budget + 1
    # The state it reports is the forward state within the adjoint's, [batch, d].
    assert error.state.shape == z0.shape and 0.0 <= error.time <= 1.0
