"""The native backend's loops: step sizes, exact counts, guards (budgets, NaN, overflow,
underflow), several and reversed times, gradients through the loop."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import CountingField, in_backward_pass, solve_error_bound
from native_cases import ADAPTIVE, FIXED, growth, growth_solution
from torch import nn

from anode_plugin import (
    AugmentedNeuralODE,
    NFEBudgetExceeded,
    NonFiniteStateError,
    StepSizeUnderflowError,
)
from anode_plugin.solve import (
    Adjoint,
    NativeBackend,
    Solve,
    TorchdynBackend,
)
from anode_plugin.solve._native import TABLEAUS

pytestmark = pytest.mark.numerics


@pytest.mark.parametrize("name", FIXED)
def test_step_size_divides_each_interval_into_equal_steps(name):
    x0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    counted = CountingField(2).double()
    solution = NativeBackend(name, step_size=0.1).integrate(counted, x0, t)
    stages = TABLEAUS[name].stages
    assert solution.stats.accepted == 10 and counted.calls == 10 * stages == solution.stats.nfe
    # The same steps as a grid of 11 times, one step per interval: the step sizes differ
    # in the last bits (0.5 / 5 against linspace's), the states by rounding (measured
    # up to 1.9e-13).
    grid = NativeBackend(name).integrate(counted, x0, torch.linspace(0, 1, 11).double())
    torch.testing.assert_close(solution.ys[-1], grid.ys[-1], rtol=0, atol=2e-12)


@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint"])
def test_counts_equal_an_independent_count_forward_and_backward(sensitivity):
    field = CountingField(3, seed=1).double()
    backward_calls = []
    original = field.forward

    def forward(t, x):
        if in_backward_pass():
            backward_calls.append(float(t))
        return original(t, x)

    field.forward = forward
    model = AugmentedNeuralODE(
        field, augment_dims=1, backend="native", sensitivity=sensitivity, atol=1e-7, rtol=1e-7
    ).double()
    x = torch.randn(16, 2, dtype=torch.float64)
    model.features(x).pow(2).sum().backward()
    forward_calls = field.calls - len(backward_calls)
    assert model.nfe.forward == forward_calls
    assert model.nfe.backward == len(backward_calls)
    assert (model.nfe.backward > 0) == (sensitivity == "adjoint")
    # dopri5 with FSAL: two evaluations choose the first step, then six per attempt.
    attempts = model.steps.forward_accepted + model.steps.forward_rejected
    assert model.nfe.forward == 2 + 6 * attempts


def test_a_budget_stops_the_forward_and_the_backward_solve():
    model = AugmentedNeuralODE(
        CountingField(3), augment_dims=1, backend="native", max_nfe=10, atol=1e-9, rtol=1e-9
    ).double()
    with pytest.raises(NFEBudgetExceeded) as caught:
        model.features(torch.randn(4, 2, dtype=torch.float64))
    assert caught.value.nfe == 11 and caught.value.direction == "forward"
    assert caught.value.state.shape == (4, 3)
    # Within budget forward (measured 14 evaluations), over it backward (the adjoint's
    # tolerance asks for more).
    model = AugmentedNeuralODE(
        CountingField(3),
        augment_dims=1,
        backend="native",
        sensitivity="adjoint",
        atol_adjoint=1e-10,
        rtol_adjoint=1e-10,
        max_nfe=40,
    ).double()
    loss = model.features(torch.randn(4, 2, dtype=torch.float64)).sum()
    with pytest.raises(NFEBudgetExceeded) as caught:
        loss.backward()
    assert caught.value.direction == "backward"


def test_a_nan_state_stops_the_solve_with_the_packages_error():
    def f(t, x):
        return x * float("nan") if float(t) > 0.3 else -x

    with pytest.raises(NonFiniteStateError, match="NaN or infinite"):
        NativeBackend().integrate(f, torch.ones(2, 2), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("name", ADAPTIVE)
def test_reversed_and_several_times(name):
    x0 = torch.tensor([[1.0, -0.5], [0.3, 0.8]], dtype=torch.float64)
    times = [0.0, 0.25, 0.5, 1.0]
    tol = 1e-9
    backend = NativeBackend(name, atol=tol, rtol=tol)
    ys = backend.integrate(growth, x0, torch.tensor(times, dtype=torch.float64)).ys
    bound = solve_error_bound(tol, torch.float64, scale=3.0)
    for y, s in zip(ys, times, strict=True):
        assert float((y - growth_solution(x0, s)).abs().max()) <= bound
    back = backend.integrate(growth, ys[-1], torch.tensor(times[::-1], dtype=torch.float64)).ys
    assert float((back[-1] - x0).abs().max()) <= 2 * bound


def test_gradients_through_the_loop_match_the_closed_form_and_the_adjoint():
    # x' = a x: x(1) = x0 exp(a), d x(1) / da = x0 exp(a). Step control is not
    # differentiated (Python floats), so autograd gives the computed solution's gradient.
    a = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    x0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    tol = 1e-10

    class Linear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(a.detach().clone())

        def forward(self, t, x):
            return self.a * x

    grads = {}
    for sensitivity in ("autograd", "adjoint"):
        field = Linear()
        model = AugmentedNeuralODE(
            field,
            augment_dims=0,
            solve=Solve(NativeBackend(atol=tol, rtol=tol), Adjoint(atol=tol, rtol=tol))
            if sensitivity == "adjoint"
            else Solve(NativeBackend(atol=tol, rtol=tol)),
        ).double()
        model.features(x0).sum().backward()
        grads[sensitivity] = float(field.a.grad)
    exact = float(x0.sum()) * math.exp(0.7)
    bound = solve_error_bound(tol, torch.float64, scale=exact)
    assert abs(grads["autograd"] - exact) <= bound
    assert abs(grads["adjoint"] - exact) <= bound


def test_the_first_step_is_hairers():
    # dx/dt = a x from x0, atol = rtol = tol: d0 = rms(x0 / s), d1 = rms(a x0 / s) with
    # s = tol + tol |x0|; h0 = 0.01 d0 / d1; the second evaluation is at h0; then
    # d2 = rms(a (x0 + h0 a x0) - a x0) / s) / h0 and h1 = (0.01 / max(d1, d2))^(1/6);
    # the first step is min(100 h0, h1), whose second stage is at dt / 5.
    a, tol = -3.0, 1e-6
    x0 = torch.tensor([[1.0, -2.0], [0.5, 4.0]], dtype=torch.float64)
    times = []

    def f(t, x):
        times.append(float(t))
        return a * x

    NativeBackend(atol=tol, rtol=tol).integrate(f, x0, torch.tensor([0.0, 1.0]).double())
    scale = tol + tol * x0.abs()

    def rms(v):
        return float(v.pow(2).mean().sqrt())

    d0, d1 = rms(x0 / scale), rms(a * x0 / scale)
    h0 = 0.01 * d0 / d1
    d2 = rms((a * (x0 + h0 * a * x0) - a * x0) / scale) / h0
    dt = min(100 * h0, (0.01 / max(d1, d2)) ** (1 / 6))
    assert times[:2] == [0.0, h0]
    assert times[2] == pytest.approx(dt / 5, rel=1e-12)


def test_a_zero_field_takes_the_steps_torchdyn_takes():
    # d1 = d2 = 0: the first step is 1e-6 and every step grows tenfold (error 0): the
    # same attempts and NFE as torchdyn's, which follows the same rules.
    x0 = torch.ones(3, 2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)

    def zero(t, x):
        return torch.zeros_like(x)

    ours = NativeBackend().integrate(zero, x0, t).stats
    theirs = TorchdynBackend().integrate(zero, x0, t).stats
    assert (ours.nfe, ours.accepted, ours.rejected) == (theirs.nfe, theirs.accepted, 0)
    assert ours.accepted == 7  # 1e-6, 1e-5, ..., 0.1, then the rest (0.889) to 1


def test_an_overflowing_state_is_refused_where_it_is_returned():
    # Fixed steps have no error ratio: an infinite state is caught at the output time.
    def f(t, x):
        return torch.full_like(x, float("inf"))

    with pytest.raises(NonFiniteStateError, match=r"The state of the ODE became NaN or infinite"):
        NativeBackend("euler").integrate(
            f, torch.ones(2, 2, dtype=torch.float64), torch.tensor([0.0, 1.0]).double()
        )


def test_fixed_steps_follow_the_time_and_cover_short_intervals():
    # x' = cos(t) x with rk4 steps of at most 1/64: the closed form within rk4's error
    # (measured 5.7e-10, both CPU capabilities); a step larger than an interval is one step.
    x0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    ys = NativeBackend("rk4", step_size=1 / 64).integrate(growth, x0, t).ys
    torch.testing.assert_close(ys[-1], growth_solution(x0, 1.0), rtol=0, atol=5e-9)
    one = NativeBackend("rk4", step_size=10.0).integrate(growth, x0, t)
    assert one.stats.accepted == 2 and one.stats.nfe == 8


def test_a_step_size_underflow_names_its_remedies():
    # x' = 1 / (t - 1/2)^2 in float64: the step collapses at t = 1/2, where the loop's own
    # check stops it (in float32 the time stalls first and the counter's guard does).
    def f(t, x):
        return torch.ones_like(x) / (t - 0.5) ** 2

    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(StepSizeUnderflowError, match=r"underflowed at t=0\.5 .*try looser"):
        NativeBackend().integrate(f, torch.zeros(1, 1, dtype=torch.float64), t)
