"""Step statistics: accepted and rejected steps, forward and backward, on both backends."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anode_plugin import BACKENDS, SOLVERS, AugmentedNeuralODE, NFEBudgetExceeded, StepRecord

pytestmark = pytest.mark.numerics

# dopri5's stages after the first, as fractions of the step: an attempt from t0 with step
# dt evaluates the field at t0 + c * dt for each c (the first stage is the previous
# attempt's last one, or the initial evaluation).
DOPRI5_C = (1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
# Before its first step, each library evaluates f(t0) and f(t0 + h0) to pick h0.
INITIAL_EVALUATIONS = 2


class StiffField(nn.Module):
    """dx/dt = -a x + sin(w t) W x, recording the time of every evaluation."""

    def __init__(self, dim: int, a: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = a
        self.mix = nn.Linear(dim, dim, bias=False)
        self.times: list[float] = []

    def forward(self, t, x):
        # Per-sample solvers (torchode) give each sample its time: the first one's.
        self.times.append(float(t.detach().reshape(-1)[0]))
        return -self.a * x + torch.sin(8 * t).reshape(-1, 1) * self.mix(x)


def steps_from_times(times: list[float]) -> tuple[int, int]:
    """Accepted and rejected dopri5 steps of one solve, from the times the field saw.

    Each attempt is six evaluations; its start t0 follows from its stage times. An
    attempt was accepted when the next one starts later (or it was the last).
    """
    body = times[INITIAL_EVALUATIONS:]
    assert len(body) % len(DOPRI5_C) == 0, len(times)
    starts, steps = [], []
    for i in range(0, len(body), len(DOPRI5_C)):
        first, last = body[i], body[i + len(DOPRI5_C) - 1]
        dt = (last - first) / (DOPRI5_C[-1] - DOPRI5_C[0])
        starts.append(first - DOPRI5_C[0] * dt)
        steps.append(dt)
    # Recovering t0 loses a few digits: "the same start" means much closer than a step.
    accepted = sum(
        1
        for here, after, dt in zip(starts, [*starts[1:], None], steps, strict=True)
        if after is None or abs(after - here) > abs(dt) / 2
    )
    return accepted, len(starts) - accepted


# torchdyn's adjoint also evaluates f at the final time before and after its backward solve.
OUTSIDE_BACKWARD_SOLVE = {
    "torchdyn": (1, 1),
    "torchdiffeq": (0, 0),
    "torchode": (0, 0),
    "native": (0, 0),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_steps_equal_an_independent_count_forward_and_backward(backend):
    field = StiffField(3, a=60.0).double()
    model = AugmentedNeuralODE(
        field, augment_dims=1, backend=backend, sensitivity="adjoint", atol=1e-6, rtol=1e-6
    ).double()
    # One sample on torchode: a batch's samples step apart, and their times with them.
    x = torch.randn(1 if backend == "torchode" else 8, 2, dtype=torch.float64)
    features = model.features(x)
    forward_times = list(field.times)
    field.times.clear()
    features.pow(2).sum().backward()
    backward_times = list(field.times)

    accepted, rejected = steps_from_times(forward_times)
    assert rejected > 0, "the stiff field should force rejected steps"
    before, after = OUTSIDE_BACKWARD_SOLVE[backend]
    back_accepted, back_rejected = steps_from_times(
        backward_times[before : len(backward_times) - after]
    )
    assert back_rejected > 0
    assert model.steps == StepRecord(accepted, rejected, back_accepted, back_rejected)
    assert model.steps.accepted == accepted + back_accepted
    assert model.nfe.forward == len(forward_times)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if "rk4" in SOLVERS[b]])
def test_fixed_step_solvers_accept_every_step(backend):
    options = {"solver_options": {"step_size": 0.25}} if backend == "torchdiffeq" else {}
    t = torch.linspace(0, 1, 5)  # torchdyn's fixed-step solvers step on t_span
    model = AugmentedNeuralODE(
        nn.Linear(3, 3), augment_dims=1, backend=backend, solver="rk4", t_span=t, **options
    )
    model.features(torch.randn(4, 2))
    assert model.steps == StepRecord(forward_accepted=4)
    assert model.nfe.forward == 16


def test_steps_reset_and_stay_out_of_uncounted_blocks():
    model = AugmentedNeuralODE(StiffField(3, a=60.0), augment_dims=1, atol=1e-5, rtol=1e-5)
    x = torch.randn(4, 2)
    model.features(x)
    first = model.steps
    assert first.forward_accepted > 0
    with model.uncounted():
        model.features(x)
    assert model.steps == first
    model.reset_nfe()
    assert model.steps == StepRecord()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_budget_error_carries_the_partial_state_and_its_time(backend):
    model = AugmentedNeuralODE(StiffField(3, a=60.0), augment_dims=1, backend=backend, max_nfe=30)
    model.atol = model.rtol = 1e-6
    x = torch.randn(4, 2)
    with pytest.raises(NFEBudgetExceeded) as info:
        model.features(x)
    error = info.value
    assert error.state.shape == (4, 3) and not error.state.requires_grad
    assert 0.0 < error.time < 1.0
    # The state reached is the solution there, within the solve's tolerance.
    reference = AugmentedNeuralODE(StiffField(3, a=60.0), augment_dims=1, atol=1e-7, rtol=1e-7)
    # Per-sample stepping: each sample is at its own time.
    times = [error.time] * 4 if error.times is None else error.times.tolist()
    assert (error.times is None) == (backend != "torchode")
    expected = torch.cat(
        [
            reference.features(x[i : i + 1], t_span=torch.tensor([0.0, s]))
            for i, s in enumerate(times)
        ]
    )
    torch.testing.assert_close(error.state, expected, rtol=0, atol=1e-2)


def test_forward_and_adjoint_methods_count_their_own_steps():
    # dopri5 forward (accepts and rejects), rk4 backward (accepts every step it takes).
    field = StiffField(3, a=60.0).double()
    model = AugmentedNeuralODE(
        field,
        augment_dims=1,
        backend="torchdiffeq",
        sensitivity="adjoint",
        solver_adjoint="rk4",
        atol=1e-6,
        rtol=1e-6,
    ).double()
    features = model.features(torch.randn(8, 2, dtype=torch.float64))
    accepted, rejected = steps_from_times(list(field.times))
    features.pow(2).sum().backward()
    steps = model.steps
    assert (steps.forward_accepted, steps.forward_rejected) == (accepted, rejected)
    assert steps.backward_rejected == 0 and steps.backward_accepted > 0
