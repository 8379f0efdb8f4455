"""The native backend: its methods' orders, agreement with the libraries, exact counts,
guards, gradients and the compiled step."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from helpers import CountingField, in_backward_pass, solve_error_bound
from torch import nn

from anode_plugin import (
    AugmentedNeuralODE,
    ConvVectorField,
    MLPVectorField,
    NFEBudgetExceeded,
    NonFiniteStateError,
    StepSizeUnderflowError,
)
from anode_plugin.solve import (
    Adjoint,
    NativeBackend,
    Solve,
    TorchdiffeqBackend,
    TorchdynBackend,
)
from anode_plugin.solve._evaluations import Limits
from anode_plugin.solve._native import TABLEAUS
from anode_plugin.solve._native._stepper import RungeKuttaStep

pytestmark = pytest.mark.numerics

ADAPTIVE = [n for n, t in TABLEAUS.items() if t.adaptive]
FIXED = [n for n, t in TABLEAUS.items() if not t.adaptive]
# Each method against a library that has it (torchdyn has no bosh3).
REFERENCE = {name: TorchdynBackend for name in TABLEAUS} | {"bosh3": TorchdiffeqBackend}


def rotation(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dx/dt = A x, A = [[-0.5, 2], [-2, -0.5]]: x(t) = exp(-t/2) R(2t) x(0)."""
    return torch.stack([-0.5 * x[:, 0] + 2 * x[:, 1], -2 * x[:, 0] - 0.5 * x[:, 1]], 1)


def rotation_solution(x0: torch.Tensor, t: float) -> torch.Tensor:
    c, s = math.cos(2 * t), math.sin(2 * t)
    return math.exp(-t / 2) * torch.stack(
        [c * x0[:, 0] + s * x0[:, 1], -s * x0[:, 0] + c * x0[:, 1]], 1
    )


def growth(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dx/dt = cos(t) x: x(t) = x(0) exp(sin t); time-dependent, so the nodes c matter."""
    return torch.cos(t) * x


def growth_solution(x0: torch.Tensor, t: float) -> torch.Tensor:
    return x0 * math.exp(math.sin(t))


def global_error(name: str, field, solution, steps: int) -> float:
    """The error at t = 1 of ``steps`` equal steps of the method ``name`` (float64)."""
    x0 = torch.tensor([[1.0, -0.5], [0.3, 0.8]], dtype=torch.float64)
    stepper = RungeKuttaStep(TABLEAUS[name], x0)
    y, dt = x0, 1.0 / steps

    def rate(s: float, z: torch.Tensor) -> torch.Tensor:
        return field(torch.tensor(s, dtype=torch.float64), z)

    for i in range(steps):
        y = stepper(rate, i * dt, dt, y, None).y
    return float((y - solution(x0, 1.0)).abs().max())


@pytest.mark.parametrize("name", list(TABLEAUS))
@pytest.mark.parametrize(
    ("field", "solution"), [(rotation, rotation_solution), (growth, growth_solution)]
)
def test_each_method_converges_at_its_order(name, field, solution):
    # The slope of log(error) against log(step) from 32 to 64 steps, measured (the same
    # on AVX512 and under ATEN_CPU_CAPABILITY=default): euler 1.024 / 1.004 (rotation /
    # growth), midpoint 2.009 / 1.940, rk4 4.030 / 4.004, bosh3 3.019 / 3.018, dopri5
    # 5.087 / 5.072, tsit5 5.233 / 5.033. A wrong coefficient costs at least one order.
    # (Fewer steps are not yet asymptotic for tsit5, more reach float64's rounding.)
    order = TABLEAUS[name].order
    errors = [global_error(name, field, solution, n) for n in (32, 64)]
    assert abs(math.log2(errors[0] / errors[1]) - order) < 0.3, (name, errors)


@pytest.mark.parametrize("name", ADAPTIVE)
def test_the_error_estimate_is_the_embedded_pairs_local_error(name):
    # One step's estimate shrinks like dt^order (its embedded solution is one order
    # lower: local error dt^order). Measured slopes from dt = 1/4 to 1/32 (both CPU
    # capabilities): bosh3 3.012-3.048, dopri5 5.012-5.039, tsit5 5.011-5.035.
    x0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    stepper = RungeKuttaStep(TABLEAUS[name], x0)

    def rate(s: float, z: torch.Tensor) -> torch.Tensor:
        return rotation(torch.tensor(s, dtype=torch.float64), z)

    sizes = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
    errors = [float(stepper(rate, 0.0, dt, x0, None).error.abs().max()) for dt in sizes]
    slopes = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(abs(s - TABLEAUS[name].order) < 0.25 for s in slopes), slopes


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


@pytest.mark.parametrize("name", list(TABLEAUS))
def test_solutions_agree_with_the_libraries_within_the_solves_tolerance(name):
    torch.manual_seed(0)
    field = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 3)).double()

    def f(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return field(x)  # autonomous: torchdyn's rk4 evaluates its second stage at t

    x0 = torch.randn(8, 3, dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    tol = 1e-8
    ours = NativeBackend(name, atol=tol, rtol=tol).integrate(f, x0, t)
    theirs = REFERENCE[name](name, atol=tol, rtol=tol).integrate(f, x0, t)
    if TABLEAUS[name].adaptive:
        bound = 2 * solve_error_bound(tol, torch.float64, scale=float(x0.abs().max()))
        assert float((ours.ys - theirs.ys).abs().max()) <= bound
    else:
        # The same steps in the same arithmetic: rounding apart (measured <= 4.5e-16).
        torch.testing.assert_close(ours.ys, theirs.ys, rtol=0, atol=1e-13)
        assert ours.stats.nfe == theirs.stats.nfe


def test_dopri5_takes_the_same_steps_as_torchdyn():
    # The same error estimate (Shampine's embedded weights) and step control: the same
    # attempts, accepted and rejected, and the same NFE.
    torch.manual_seed(3)
    field = MLPVectorField(3, 32).double()
    with torch.no_grad():
        for p in field.parameters():
            p.mul_(4)
    x0 = torch.randn(64, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ours = NativeBackend(atol=1e-5, rtol=1e-5).integrate(field, x0, t).stats
    theirs = TorchdynBackend(atol=1e-5, rtol=1e-5).integrate(field, x0, t).stats
    assert (ours.nfe, ours.accepted, ours.rejected) == (
        theirs.nfe,
        theirs.accepted,
        theirs.rejected,
    )


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


def test_image_states_agree_with_torchdyn():
    torch.manual_seed(0)
    field = ConvVectorField(3, 8).double()
    x0 = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ours = NativeBackend(atol=1e-8, rtol=1e-8).integrate(field, x0, t)
    theirs = TorchdynBackend(atol=1e-8, rtol=1e-8).integrate(field, x0, t)
    assert ours.ys.shape == (2, 2, 3, 6, 6)
    assert float((ours.ys - theirs.ys).abs().max()) <= 2 * solve_error_bound(
        1e-8, torch.float64, scale=float(x0.abs().max())
    )


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


def test_the_adjoint_measures_its_backward_error_with_the_seminorm_by_default():
    torch.manual_seed(0)
    x = torch.randn(32, 2)
    nfe = {}
    for seminorm in (None, True, False):
        torch.manual_seed(1)
        model = AugmentedNeuralODE(
            MLPVectorField(3, 32),
            augment_dims=1,
            backend="native",
            sensitivity="adjoint",
            seminorm=seminorm,
        )
        model.features(x).pow(2).sum().backward()
        nfe[seminorm] = model.nfe.backward
    # Measured: 32, 32 and 56 backward evaluations.
    assert nfe[None] == nfe[True] < nfe[False]


def _compile_options() -> dict:
    # aot_eager traces and runs the same graph without inductor's code generation
    # (seconds instead of a cold 16 s): the machinery under test is the same.
    return {"backend": "aot_eager"}


def test_the_compiled_step_gives_the_eager_solution_and_counts():
    torch.manual_seed(0)
    field = MLPVectorField(3, 16).double()
    x0 = torch.randn(8, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    eager = NativeBackend(atol=1e-6, rtol=1e-6).integrate(field, x0, t)
    compiled = NativeBackend(atol=1e-6, rtol=1e-6, compile=_compile_options()).integrate(
        field, x0, t
    )
    # Measured 4.4e-16: the same arithmetic, summed in another order.
    torch.testing.assert_close(compiled.ys, eager.ys, rtol=0, atol=1e-13)
    counts = [(s.nfe, s.accepted, s.rejected) for s in (compiled.stats, eager.stats)]
    assert counts[0] == counts[1]


def test_the_compiled_steps_evaluations_are_counted_exactly():
    # The evaluations inside the compiled graph are counted around it: the count equals
    # a counter in the field (its increments are replayed on every call of the graph).
    field = CountingField(3, seed=2).double()
    x = torch.randn(8, 3, dtype=torch.float64)
    backend = NativeBackend(atol=1e-7, rtol=1e-7, compile=_compile_options())
    solution = backend.integrate(field, x, torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert solution.stats.nfe == field.calls >= 14  # measured 20: 2 to start, 3 steps
    with pytest.raises(NFEBudgetExceeded):
        backend.integrate(field, x, torch.tensor([0.0, 1.0]).double(), limits=Limits(max_nfe=9))


def test_a_new_model_of_the_same_shape_reuses_the_compiled_step():
    from torch._dynamo.utils import counters

    x = torch.randn(8, 2)

    def train_step(seed: int) -> None:
        torch.manual_seed(seed)
        model = AugmentedNeuralODE(
            MLPVectorField(3, 16),
            augment_dims=1,
            solve=Solve(NativeBackend(solver="bosh3", compile=_compile_options())),
        )
        model.features(x).pow(2).sum().backward()

    before = counters["stats"]["unique_graphs"]
    train_step(0)
    graphs = counters["stats"]["unique_graphs"]
    # Two graphs for the first model: its first step from an input without gradients,
    # the others from states with them; none per step (a guard on a Python int the field
    # mutates, its call count, once recompiled every step).
    assert graphs - before <= 2
    train_step(1)
    train_step(2)
    assert counters["stats"]["unique_graphs"] == graphs


def test_refusals_name_the_argument():
    with pytest.raises(ValueError, match=r"`solver` must be one of .*'dopri5'.*got 'rk45'"):
        NativeBackend("rk45")
    with pytest.raises(ValueError, match=r"`step_size` is the step of the fixed-step solvers"):
        NativeBackend("dopri5", step_size=0.1)
    with pytest.raises(ValueError, match=r"`step_size` must be"):
        NativeBackend("rk4", step_size=0.0)
    with pytest.raises(ValueError, match=r"`compile` takes torch.compile's options"):
        NativeBackend(compile={"modes": "max-autotune"})
    with pytest.raises(TypeError, match=r"`compile` must be True, False or a dict"):
        NativeBackend(compile="yes")
    with pytest.raises(TypeError, match=r"backend='native' integrates tensor states"):
        NativeBackend("euler").integrate(
            lambda t, x: x, {"a": torch.ones(2)}, torch.tensor([0.0, 1.0])
        )
    with pytest.raises(ValueError, match=r"`t` must be 1-D with at least two strictly"):
        NativeBackend().integrate(lambda t, x: x, torch.ones(2, 2), torch.tensor([0.0, 0.0]))
    with pytest.raises(ValueError, match=r"`t` must hold finite times, got \[0\.0, nan\]"):
        NativeBackend().integrate(lambda t, x: x, torch.ones(2, 2), torch.tensor([0.0, math.nan]))


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


def test_the_fields_own_count_follows_a_compiled_step():
    # vf.nfe (torchdyn's count) is not counted inside the graph, but around it.
    model = AugmentedNeuralODE(
        MLPVectorField(3, 8),
        augment_dims=1,
        regularisers=("kinetic",),
        solve=Solve(NativeBackend(compile=_compile_options())),
    )
    for _ in range(2):
        model.features(torch.randn(4, 2)).sum().backward()
    assert model.vf.nfe == model.nfe.total > 0
