"""``_trace.py``: the state integrated with its log-determinant, and the trace estimators."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anode_plugin._cnf import LogDetField
from anode_plugin._probes import draw_probe

pytestmark = pytest.mark.numerics


class Quadratic(nn.Module):
    """``f(z) = tanh(z W^T) + (z * z) c``: a field whose Jacobian depends on ``z``."""

    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(dim, dim, generator=g, dtype=torch.float64))
        self.c = nn.Parameter(torch.randn(dim, generator=g, dtype=torch.float64))

    def forward(self, t, z):
        return torch.tanh(z @ self.w.T) + z * z * self.c


def _jacobians(field: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Each sample's Jacobian ``df/dz``, ``[batch, d, d]``, by autograd."""
    return torch.stack(
        [torch.autograd.functional.jacobian(lambda v: field(0.0, v[None])[0], row) for row in z]
    )


def test_the_state_layout_round_trips():
    torch.manual_seed(0)
    field = LogDetField(Quadratic(3), "exact", "gaussian")
    z0 = torch.randn(5, 3, dtype=torch.float64)
    state = field.start(z0)
    assert field.probe is None  # the exact trace draws no probe (and no random numbers)
    assert state.shape == (5, 4) and torch.equal(state[:, 3], torch.zeros(5, dtype=torch.float64))
    assert torch.equal(field.ode_state(state), z0)
    sol = torch.stack([state, state + 1])
    z, logdet = field.split(sol)
    assert torch.equal(z[0], z0) and torch.equal(z[1], z0 + 1)
    assert torch.equal(logdet, torch.stack([torch.zeros(5), torch.ones(5)]).double())


def test_the_exact_trace_is_the_jacobians():
    torch.manual_seed(0)
    field = Quadratic(4)
    system = LogDetField(field, "exact", "gaussian")
    z = torch.randn(6, 4, dtype=torch.float64)
    system.start(z)
    out = system(torch.tensor(0.0), system.start(z))
    torch.testing.assert_close(out[:, :4], field(0.0, z), rtol=0, atol=2e-15)  # measured 2.2e-16
    expected = _jacobians(field, z).diagonal(dim1=1, dim2=2).sum(1)
    # Measured: 4.4e-16 (float64 rounding of two summation orders), both CPU capabilities.
    torch.testing.assert_close(out[:, 4], expected, rtol=0, atol=4e-15)


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_hutchinsons_estimate_is_the_probes_quadratic_form(probe):
    torch.manual_seed(0)
    field = Quadratic(4, seed=1)
    system = LogDetField(field, "hutchinson", probe)
    z = torch.randn(6, 4, dtype=torch.float64)
    torch.manual_seed(0)
    state = system.start(z)
    eps = system.probe
    out = system(torch.tensor(0.0), state)
    expected = torch.einsum("bi,bij,bj->b", eps, _jacobians(field, z), eps)
    # Measured: 3.6e-15 (gaussian), 1.8e-15 (rademacher), both CPU capabilities.
    bound = {"gaussian": 3e-14, "rademacher": 1.5e-14}[probe]
    torch.testing.assert_close(out[:, 4], expected, rtol=0, atol=bound)


def test_the_probes_have_the_kind_asked_for_and_unit_covariance():
    torch.manual_seed(0)
    like = torch.zeros(20000, 3, dtype=torch.float64)
    torch.manual_seed(0)
    rademacher = draw_probe(like, "rademacher")
    gaussian = draw_probe(like, "gaussian")
    assert set(rademacher.unique().tolist()) == {-1.0, 1.0}
    assert gaussian.unique().numel() > 1000 and gaussian.dtype == torch.float64
    # E[eps eps^T] = I: off by sampling noise alone (sd 1/sqrt(20000) = 0.007 per entry;
    # measured 0.008 and 0.015, seeded).
    for probe in (rademacher, gaussian):
        covariance = probe.T @ probe / len(probe)
        torch.testing.assert_close(covariance, torch.eye(3, dtype=torch.float64), rtol=0, atol=0.04)


def test_a_field_that_ignores_the_state_has_zero_trace_under_both_estimators():
    torch.manual_seed(0)

    class Drift(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = nn.Parameter(torch.ones(3, dtype=torch.float64))

        def forward(self, t, z):
            return self.v.expand_as(z)

    class Constant(nn.Module):  # no parameter: its rate carries no graph at all
        def forward(self, t, z):
            return torch.ones_like(z)

    for field in (Drift(), Constant()):
        for trace in ("exact", "hutchinson"):
            system = LogDetField(field, trace, "gaussian")
            z = torch.randn(4, 3, dtype=torch.float64)
            out = system(torch.tensor(0.0), system.start(z))
            assert out.shape == (4, 4)
            assert torch.equal(out[:, 3], torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_the_trace_carries_gradients_only_when_the_caller_wants_them(trace):
    torch.manual_seed(0)
    field = Quadratic(3, seed=2)
    system = LogDetField(field, trace, "rademacher")
    z = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        out = system(torch.tensor(0.0), system.start(z))
    assert not out.requires_grad
    out = system(torch.tensor(0.0), system.start(z))
    assert out.requires_grad
    # The trace's gradient with respect to the field's parameters is that of the
    # reference trace (second derivatives, through create_graph).
    (grad,) = torch.autograd.grad(out[:, 3].sum(), field.c)
    jacobians = torch.stack(
        [
            torch.autograd.functional.jacobian(
                lambda v: field(0.0, v[None])[0], row, create_graph=True
            )
            for row in z
        ]
    )
    if trace == "exact":
        value = jacobians.diagonal(dim1=1, dim2=2).sum()
    else:
        value = torch.einsum("bi,bij,bj->", system.probe, jacobians, system.probe)
    (expected,) = torch.autograd.grad(value, field.c)
    # Measured: 2.2e-16 (exact), 0 (hutchinson), both CPU capabilities.
    torch.testing.assert_close(grad, expected, rtol=0, atol=2e-15)
