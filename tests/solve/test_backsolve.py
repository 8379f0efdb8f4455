"""Our backsolve adjoint (``solve/_backsolve.py``), on every backend, against exact gradients.

A linear field ``f(z) = z A^T`` has the solution ``z(t) = z0 exp(A t)^T``, which
``torch.linalg.matrix_exp`` differentiates exactly: the adjoint's gradients with
respect to ``z0`` and ``A`` are compared with those, at the solve's tolerance.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anode_plugin import BACKENDS, NFEBudgetExceeded, NonFiniteStateError
from anode_plugin.solve import BACKEND_TYPES, ErrorNorm
from anode_plugin.solve._backsolve import backsolve_adjoint
from anode_plugin.solve._evaluations import Limits

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


def _integral(field):
    """``g(t, z) = (1 + t) |z|^2 u``, ``u`` a parameter the field itself does not use."""

    def g(t, z):
        return (1 + t) * z.pow(2).sum(1) * field.unused.mean()

    return g


def _exact(a, z0, weights, integral=False):
    """The loss and its exact gradients with respect to ``z0``, ``A`` and ``u``."""
    a = a.clone().requires_grad_(True)
    z0 = z0.clone().requires_grad_(True)
    u = torch.ones(3, dtype=torch.float64, requires_grad=True)
    states = torch.stack([z0 @ torch.linalg.matrix_exp(a * t).T for t in T])
    loss = (weights * states).sum()
    if integral:
        # ∫_0^1 (1 + t) |z(t)|^2 u dt by Simpson's rule on 201 points (error ~1e-11).
        grid = torch.linspace(0, 1, 201, dtype=torch.float64)
        values = torch.stack(
            [(1 + s) * (z0 @ torch.linalg.matrix_exp(a * s).T).pow(2).sum() for s in grid]
        )
        h = grid[1] - grid[0]
        simpson = values[0] + values[-1] + 4 * values[1:-1:2].sum() + 2 * values[2:-1:2].sum()
        loss = loss + h / 3 * simpson * u.mean()
    return torch.autograd.grad(loss, (z0, a, u), allow_unused=True)


def _backsolve(
    backend,
    field,
    z0,
    weights,
    *,
    seminorm=False,
    integral=None,
    record=None,
    limits=None,
    norm=None,
    adjoint=None,
):
    start = z0.clone().requires_grad_(True)
    adjoint = {"solver": None, "atol": TOL, "rtol": TOL, **(adjoint or {})}
    solution = backsolve_adjoint(
        BACKEND_TYPES[backend](atol=TOL, rtol=TOL),
        field,
        start,
        T,
        norm=norm or ErrorNorm(),
        limits=limits or Limits(),
        seminorm=seminorm,
        integral_loss=integral,
        record_backward=record,
        **adjoint,
    )
    (weights * solution.ys).sum().backward()
    grad_a = field.a.grad if hasattr(field, "a") else None
    return solution, start.grad, grad_a


# Largest differences from the exact gradients (over both seminorms), measured on AVX512
# and under ATEN_CPU_CAPABILITY=default (the same on both), and the bounds, under 10x
# each. A loss on every saved time: z0 4.6e-9 / 4.8e-11 / 3.3e-11 / 3.7e-11 (torchdyn,
# torchdiffeq, torchode, native), A 9.9e-9 / 3.6e-10 / 1.1e-10 / 1.2e-10. With the
# integral loss: z0 2.0e-8 / 2.9e-10 / 2.1e-10 / 7.3e-11, A 1.5e-7 / 1.1e-9 / 5.7e-10 /
# 8.1e-10, u 8.5e-9 / 4.3e-10 / 2.5e-10 / 3.7e-11.
BOUND = {
    "z0": {"torchdyn": 4e-8, "torchdiffeq": 4e-10, "torchode": 3e-10, "native": 2e-10},
    "A": {"torchdyn": 9e-8, "torchdiffeq": 3.5e-9, "torchode": 1e-9, "native": 6e-10},
}
BOUND_INTEGRAL = {
    "z0": {"torchdyn": 2e-7, "torchdiffeq": 2.5e-9, "torchode": 2e-9, "native": 4e-10},
    "A": {"torchdyn": 1.5e-6, "torchdiffeq": 1e-8, "torchode": 5e-9, "native": 4e-9},
    "u": {"torchdyn": 8e-8, "torchdiffeq": 4e-9, "torchode": 2.5e-9, "native": 2e-10},
}
SOLUTION_BOUND = {"torchdyn": 6e-9, "torchdiffeq": 9e-10, "torchode": 7e-10, "native": 2.5e-10}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seminorm", [True, False])
def test_gradients_are_the_exact_ones_with_a_loss_at_every_saved_time(backend, seminorm):
    a, z0, weights = _setup()
    field = Linear(a)
    solution, grad_z0, grad_a = _backsolve(backend, field, z0, weights, seminorm=seminorm)
    ys = solution.ys
    exact_z0, exact_a, _ = _exact(a, z0, weights)
    torch.testing.assert_close(grad_z0, exact_z0, rtol=0, atol=BOUND["z0"][backend])
    torch.testing.assert_close(grad_a, exact_a, rtol=0, atol=BOUND["A"][backend])
    # The forward solution is the exact one too (measured: 6.6e-10 torchdyn, 9.4e-11
    # torchdiffeq, 7.7e-11 torchode, 4.2e-11 native); an unused parameter gets a zero
    # gradient.
    expected = torch.stack([z0 @ torch.linalg.matrix_exp(a * t).T for t in T])
    torch.testing.assert_close(ys.detach(), expected, rtol=0, atol=SOLUTION_BOUND[backend])
    assert torch.equal(field.unused.grad, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_integral_loss_adds_its_gradients(backend):
    a, z0, weights = _setup(1)
    field = Linear(a)
    _, grad_z0, grad_a = _backsolve(backend, field, z0, weights, integral=_integral(field))
    exact_z0, exact_a, exact_u = _exact(a, z0, weights, integral=True)
    torch.testing.assert_close(grad_z0, exact_z0, rtol=0, atol=BOUND_INTEGRAL["z0"][backend])
    torch.testing.assert_close(grad_a, exact_a, rtol=0, atol=BOUND_INTEGRAL["A"][backend])
    # The integral alone reads `unused`: its gradient is the integral's.
    bound = BOUND_INTEGRAL["u"][backend]
    torch.testing.assert_close(field.unused.grad, exact_u, rtol=0, atol=bound)


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


class Stiff(nn.Module):
    """``d[x, y]/dt = [-x, -50 (y - cos t)]``: ``y`` stiff, ``x`` smooth; a parameter-free
    field when ``trainable`` is false."""

    def __init__(self, trainable: bool = True) -> None:
        super().__init__()
        self.rate = nn.Parameter(torch.tensor(50.0, dtype=torch.float64), trainable)

    def forward(self, t, z):
        x, y = z[:, :1], z[:, 1:]
        return torch.cat([-x, -self.rate * (y - torch.cos(t).reshape(-1, 1))], 1)


def test_the_forward_solve_uses_the_norm_it_is_given():
    z0 = torch.ones(2, 2, dtype=torch.float64)
    weights = torch.ones(len(T), 2, 2, dtype=torch.float64)
    backend = BACKEND_TYPES["torchdyn"](atol=TOL, rtol=TOL)
    counts = {}
    for entries in (None, 1):  # all entries, or x alone (the stiff y out of step control)
        norm = ErrorNorm(entries)
        solution, _, _ = _backsolve("torchdyn", Stiff(), z0, weights, norm=norm)
        with torch.no_grad():
            expected = backend.integrate(Stiff(), z0, T, norm=norm).stats.nfe
        assert solution.stats.nfe == expected
        counts[entries] = expected
    assert counts[1] < counts[None]


@pytest.mark.parametrize("backend", ["torchdiffeq", "torchode"])
def test_the_seminorm_takes_the_steps_of_a_solve_without_parameters(backend):
    # With the seminorm the parameters' adjoint is out of step-size control: the backward
    # solve steps exactly as the same solve with no parameter to differentiate does.
    # (torchdyn's first step size is chosen from the whole state, whatever the norm.)
    a, z0, weights = _setup(2)
    counts = {}
    for name, trainable, seminorm in (("seminorm", True, True), ("frozen", False, False)):
        field = Linear(a)
        field.a.requires_grad_(trainable)
        field.unused.requires_grad_(trainable)
        recorded = []
        _backsolve(backend, field, z0, weights, seminorm=seminorm, record=recorded.append)
        counts[name] = recorded[0].nfe
    assert counts["seminorm"] == counts["frozen"]
    recorded = []
    _backsolve(backend, Linear(a), z0, weights, seminorm=False, record=recorded.append)
    assert recorded[0].nfe > counts["seminorm"]  # the full norm measures them, and steps more


@pytest.mark.parametrize("backend", ["torchdyn", "torchdiffeq"])
def test_the_backward_solve_takes_the_adjoints_solver_and_tolerances(backend):
    a, z0, weights = _setup()
    counts = {}
    for name, adjoint in {
        "tight": {},
        "loose": {"atol": 1e-4, "rtol": 1e-4},
        # Each tolerance on its own: the other stays the forward solve's.
        "loose atol": {"atol": 1e-3, "rtol": TOL},
        "loose rtol": {"atol": TOL, "rtol": 1e-3},
        # rk4 on a segment: torchdyn steps on the segment's two times, torchdiffeq with
        # the step size given.
        "rk4": {"solver": "rk4"},
    }.items():
        recorded = []
        field = Linear(a)
        _backsolve(backend, field, z0, weights, adjoint=adjoint, record=recorded.append)
        counts[name] = recorded[0]
    assert counts["loose"].nfe < counts["tight"].nfe
    assert counts["loose atol"].nfe < counts["tight"].nfe
    assert counts["loose rtol"].nfe < counts["tight"].nfe
    assert counts["rk4"].rejected == 0 and counts["tight"].nfe != counts["rk4"].nfe


def test_a_field_without_parameters_still_gives_the_inputs_gradient():
    _, z0, weights = _setup()
    z0 = z0[:, :2]
    weights = weights[..., :2]
    field = Stiff(trainable=False)
    _, grad_z0, _ = _backsolve("torchode", field, z0, weights)
    start = z0.clone().requires_grad_(True)
    with torch.enable_grad():
        ys = BACKEND_TYPES["torchode"](atol=TOL, rtol=TOL).integrate(Stiff(False), start, T).ys
        (expected,) = torch.autograd.grad((weights * ys).sum(), start)
    # Measured: 1.4e-12 (both CPU capabilities): the adjoint against autograd, at TOL.
    torch.testing.assert_close(grad_z0, expected, rtol=0, atol=1e-11)


def test_a_backward_solve_that_turns_non_finite_names_its_span():
    class Root(nn.Module):
        """``dz/dt = -sqrt(|z|)``: finite forward, an infinite derivative at ``z = 0``."""

        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones((), dtype=torch.float64))

        def forward(self, t, z):
            return -self.scale * z.abs().sqrt()

    z0 = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    with pytest.raises(NonFiniteStateError, match=r"while integrating from t=1 to t=0 "):
        _backsolve("torchdyn", Root(), z0, torch.ones(len(T), 1, 2, dtype=torch.float64))


def test_the_forward_solve_keeps_the_budget():
    a, z0, weights = _setup()
    with pytest.raises(NFEBudgetExceeded) as info:
        _backsolve("torchdyn", Linear(a), z0, weights, limits=Limits(max_nfe=10))
    assert info.value.direction == "forward" and info.value.nfe == 11
