"""The torchode backend: per-sample step sizes and per-sample statistics."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from anode_plugin import (
    AugmentedNeuralODE,
    MLPVectorField,
    NFEBudgetExceeded,
    NonFiniteStateError,
    StepRecord,
    StepSizeUnderflowError,
)
from anode_plugin.solve import Solve, TorchodeBackend
from anode_plugin.testing import assert_nfe_consistent

pytestmark = pytest.mark.numerics


class Decay(nn.Module):
    """``d[y, k]/dt = [-k y, 0]``: each sample decays at its own rate ``k`` (column 1),
    so a sample with a large ``k`` is stiff and needs more steps than one with a small."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, t, z):
        y, k = z[:, :1], z[:, 1:]
        return torch.cat([-self.scale * k * y, torch.zeros_like(k)], 1)


def _model(field: nn.Module, **kwargs) -> AugmentedNeuralODE:
    return AugmentedNeuralODE(field, augment_dims=kwargs.pop("augment_dims", 0), **kwargs)


@given(seed=st.integers(0, 2**16), batch=st.integers(1, 6), tol=st.sampled_from([1e-3, 1e-6]))
@settings(max_examples=12, deadline=None)
def test_each_sample_of_a_batch_steps_as_if_it_were_solved_alone(seed, batch, tol):
    torch.manual_seed(seed)
    model = _model(
        MLPVectorField(3, 8), augment_dims=1, backend="torchode", atol=tol, rtol=tol
    ).double()
    x = 2 * torch.randn(batch, 2, dtype=torch.float64)
    with torch.no_grad():
        together = model.features(x)
        stats = model.stats.per_sample
        for i in range(batch):
            alone = model.features(x[i : i + 1])
            one = model.stats.per_sample
            assert one.nfe.tolist() == [int(stats.nfe[i])]
            assert one.accepted.tolist() == [int(stats.accepted[i])]
            assert one.rejected.tolist() == [int(stats.rejected[i])]
            # The same steps: the same states, up to the batch's rounding (measured over
            # 60 draws: 2.9e-14, 3.6e-14 under ATEN_CPU_CAPABILITY=default).
            torch.testing.assert_close(together[i : i + 1], alone, rtol=0, atol=2e-13)


def test_a_stiff_sample_costs_more_than_an_easy_one_and_sets_the_batch_cost():
    model = _model(Decay(), backend="torchode", atol=1e-6, rtol=1e-6).double()
    rates = torch.tensor([0.1, 1.0, 30.0], dtype=torch.float64)
    x = torch.stack([torch.ones(3, dtype=torch.float64), rates], 1)
    _, sol = model(x)
    expected = torch.exp(-rates)  # y(1) = exp(-k)
    # Measured: 2.1e-7 relative to y(0) = 1 (the tolerance is 1e-6).
    torch.testing.assert_close(sol[-1, :, 0], expected, rtol=0, atol=2e-6)
    per = model.stats.per_sample
    assert per.nfe[0] < per.nfe[1] < per.nfe[2]
    assert per.accepted[0] < per.accepted[2]
    # A batch evaluation counts once: the batch's NFE is its most expensive sample's.
    assert model.nfe.forward == int(per.nfe.max())
    longest = int(torch.argmax(per.accepted + per.rejected))
    assert model.steps == StepRecord(int(per.accepted[longest]), int(per.rejected[longest]))
    # Jointly stepped, every sample pays for the stiffest one.
    joint = _model(Decay(), solve=Solve(TorchodeBackend(atol=1e-6, rtol=1e-6, per_sample=False)))
    joint.double()(x)
    assert joint.stats.per_sample.nfe.tolist() == [joint.nfe.forward] * 3
    assert int(per.nfe.sum()) < 3 * joint.nfe.forward


@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint"])
def test_model_counts_equal_an_independent_count(sensitivity):
    torch.manual_seed(0)
    model = _model(
        MLPVectorField(3, 8), augment_dims=1, backend="torchode", sensitivity=sensitivity
    )
    assert_nfe_consistent(model, torch.randn(5, 2))


def test_the_solution_is_as_accurate_as_the_other_backends():
    torch.manual_seed(0)
    tight = _model(
        MLPVectorField(3, 8), augment_dims=1, backend="torchdiffeq", atol=1e-12, rtol=1e-12
    )
    models = {
        backend: _model(MLPVectorField(3, 8), augment_dims=1, backend=backend, atol=1e-8, rtol=1e-8)
        for backend in ("torchode", "torchdyn")
    }
    x = torch.randn(6, 2, dtype=torch.float64)
    reference = tight.double().features(x)
    errors = {}
    for backend, model in models.items():
        model.load_state_dict(tight.state_dict())
        errors[backend] = (model.double().features(x) - reference).abs().max().item()
    # Measured at 1e-8: 1.5e-6 torchode, 1.8e-6 torchdyn (both CPU capabilities).
    assert errors["torchode"] < 1.5e-5 and errors["torchode"] < 3 * errors["torchdyn"]


def test_joint_backends_give_every_sample_the_batch_counts():
    model = _model(MLPVectorField(3, 8), augment_dims=1)
    model(torch.randn(4, 2))
    per = model.stats.per_sample
    assert per.nfe.tolist() == [model.nfe.forward] * 4
    assert per.accepted.tolist() == [model.steps.forward_accepted] * 4
    assert per.summary() == {k: float(model.nfe.forward) for k in ("mean", "p90", "max")}


class Unbounded(nn.Module):
    """``dz/dt = -z``, infinite where ``z > 2``."""

    def forward(self, t, z):
        return torch.where(z > 2, torch.full_like(z, float("inf")), -z)


class Blowup(nn.Module):
    """``dz/dt = z^2``: from ``z0`` the solution reaches infinity at ``t = 1 / z0``."""

    def forward(self, t, z):
        return z**2


def test_a_sample_that_turns_infinite_stops_the_solve_and_is_named():
    model = _model(Unbounded(), backend="torchode")
    with pytest.raises(NonFiniteStateError, match=r"sample\(s\) \[1\] became NaN or infinite"):
        model(torch.tensor([[1.0], [5.0], [0.5]]))


def test_a_stalled_sample_is_named_at_its_own_time():
    model = _model(Blowup(), backend="torchode")
    # Sample 0 finishes at t=1; sample 1 stalls near its blow-up time, t = 0.2.
    with pytest.raises(StepSizeUnderflowError, match=r"t=0\.(2|1999)\d* \(sample 1\)"):
        model(torch.tensor([[0.5], [5.0]]))


def test_the_budget_stops_a_per_sample_solve():
    model = _model(Decay(), backend="torchode", atol=1e-8, rtol=1e-8, max_nfe=20).double()
    x = torch.tensor([[1.0, 0.1], [1.0, 50.0]], dtype=torch.float64)
    with pytest.raises(NFEBudgetExceeded) as info:
        model(x)
    assert info.value.nfe == 21 and info.value.times.shape == (2,)


def test_options_are_checked():
    with pytest.raises(TypeError, match="`per_sample` must be True or False, got 1"):
        TorchodeBackend(per_sample=1)
    with pytest.raises(ValueError, match=r"`solver` must be one of \['dopri5', 'tsit5', 'heun'\]"):
        TorchodeBackend("rk4")
    with pytest.raises(ValueError, match="`sensitivity` must be one of"):
        _model(Decay(), backend="torchode", sensitivity="interpolated_adjoint")
    model = _model(Decay(), backend="torchode", solver="tsit5")
    with pytest.raises(ValueError, match="dict state"):
        model({"x": torch.zeros(2, 2)})
