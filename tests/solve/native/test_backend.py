"""The native backend against the libraries: solutions, steps, image states, its adjoint's
norm, and the refusals of its arguments."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import solve_error_bound
from native_cases import REFERENCE
from torch import nn

from anode_plugin import (
    AugmentedNeuralODE,
    ConvVectorField,
    MLPVectorField,
)
from anode_plugin.solve import (
    NativeBackend,
    TorchdynBackend,
)
from anode_plugin.solve._native import TABLEAUS

pytestmark = pytest.mark.numerics


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
