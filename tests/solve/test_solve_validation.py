"""The solve objects check every argument when they are built, not when first used."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchdyn.numerics.solvers.ode import Euler

from anode_plugin import NonFiniteStateError
from anode_plugin.solve import (
    BACKEND_TYPES,
    Adjoint,
    Autograd,
    InterpolatedAdjoint,
    Solve,
    TorchdiffeqBackend,
    TorchdynBackend,
)
from anode_plugin.solve._evaluations import Limits


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        # Each was accepted, then failed at the first solve with a raw error (or hung).
        (
            lambda: Solve(TorchdynBackend("dopri5"), "adjoint"),
            TypeError,
            r"`gradient` must be a gradient method instance, .* got a str 'adjoint'",
        ),
        (lambda: Solve(TorchdynBackend(), Adjoint), TypeError, "got the class Adjoint"),
        (
            lambda: Solve(TorchdynBackend, Autograd()),
            TypeError,
            r"`backend` must be a Backend instance, .* got the class TorchdynBackend",
        ),
        (
            lambda: Adjoint(solver="dopri55"),
            ValueError,
            r"`solver` must be None, a solver module or one of \[",
        ),
        (lambda: InterpolatedAdjoint(solver=3), ValueError, r"`solver` must be None, a solver"),
        (
            lambda: TorchdynBackend(nn.Linear(2, 2)),
            TypeError,
            r"`solver` must be a solver name or a torchdyn solver module .* got Linear",
        ),
        (
            lambda: Adjoint(solver=nn.Linear(2, 2)),
            TypeError,
            r"`solver` must be a solver name or a torchdyn solver module",
        ),
        (
            lambda: Solve(TorchdiffeqBackend(), Adjoint(solver="tsit5")),
            ValueError,
            r"`solver_adjoint` must be one of \['dopri8'",
        ),
        (
            lambda: Solve(TorchdiffeqBackend(), Adjoint(solver=Euler())),
            TypeError,
            "A solver module as the adjoint's `solver` needs the torchdyn backend",
        ),
        (
            lambda: TorchdiffeqBackend(options=[("step_size", 0.1)]),
            TypeError,
            "`options` must be a dict of torchdiffeq's odeint options",
        ),
        (
            lambda: TorchdiffeqBackend("rk4", options={"stepsize": 0.1}),
            ValueError,
            r"`solver_options` \['stepsize'\] are not options of torchdiffeq's 'rk4'; it takes "
            r"\[.*'step_size'\]",
        ),
        (
            lambda: Solve(TorchdynBackend())(nn.Identity(), torch.ones(2, 2), torch.zeros(2)),
            ValueError,
            r"`t` must be strictly increasing or strictly decreasing, got \[0\.0, 0\.0\]",
        ),
        (
            lambda: Solve(TorchdiffeqBackend())(nn.Identity(), torch.ones(2, 2), torch.zeros(2, 2)),
            ValueError,
            r"`t` must be 1-D with at least two times, got shape \(2, 2\)",
        ),
    ],
)
def test_bad_solve_objects_are_refused_when_built(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_the_objects_that_were_valid_still_build():
    Solve(TorchdynBackend(Euler()), Adjoint(solver=Euler()))
    Solve(TorchdiffeqBackend("rk4", options={"step_size": 0.1}), Adjoint(solver="euler"))
    Solve(TorchdynBackend(), InterpolatedAdjoint(solver="rk4"))


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        # A budget of 0 or below failed every solve later, as "hard to integrate".
        (lambda: Limits(max_nfe=0), ValueError, r"^`max_nfe` must be a positive integer, got 0\.$"),
        (lambda: Limits(-1), ValueError, r"^`max_nfe` must be a positive integer, got -1\.$"),
        (lambda: Limits("x"), ValueError, r"^`max_nfe` must be a positive integer, got 'x'\.$"),
        (lambda: Limits(10, watched="f"), TypeError, r"^`watched` must be an nn.Module"),
    ],
)
def test_limits_refuse_what_no_solve_could_keep(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_a_solve_names_a_norm_or_limits_of_the_wrong_type():
    z0, t = torch.randn(4, 2), torch.tensor([0.0, 1.0])
    with pytest.raises(TypeError, match=r"^`norm` must be an ErrorNorm \(ErrorNorm\(\) for the"):
        Solve()(lambda t, z: -z, z0, t, norm="rms")
    with pytest.raises(TypeError, match=r"^`limits` must be a Limits, got 100\.$"):
        Solve()(lambda t, z: -z, z0, t, limits=100)


@pytest.mark.parametrize("backend", ["native", "torchdiffeq", "torchdyn"])
@pytest.mark.parametrize("end", [1.0, 20.0])
def test_a_nan_initial_state_is_named_not_blamed_on_the_horizon(backend, end):
    # A NaN input was reported as a state that "became" NaN, the horizon "the first suspect".
    z0 = torch.randn(8, 2)
    z0[0, 0] = float("nan")
    solve = Solve(BACKEND_TYPES[backend]("dopri5"))
    with pytest.raises(NonFiniteStateError) as info:
        layer = nn.Linear(2, 2)
        solve(lambda t, z: layer(z), z0, torch.tensor([0.0, end]))
    assert str(info.value) == (
        "`z0` contains NaN or infinite values (1 of 16 entries), so the solve could not "
        "proceed. Check the input data (and any layer before the ODE)."
    )
