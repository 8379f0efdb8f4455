"""Fuzzing the public model API: every call returns the documented shape or raises a
documented exception (ValueError, TypeError or a SolverError), never anything else."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from anode_plugin import (
    BACKENDS,
    SENSITIVITIES,
    SOLVERS,
    AugmentedNeuralODE,
    ConvVectorField,
    MLPVectorField,
    SolverError,
)

DOCUMENTED = (ValueError, TypeError, SolverError)

# Solvers that need options of their own (scipy_solver) or iterate an inner optimiser
# (implicit methods) are exercised in their own tests, not fuzzed.
_FUZZED_SOLVERS = sorted(
    {
        name
        for names in SOLVERS.values()
        for name in names
        if name not in ("scipy_solver", "implicit_adams", "ieuler", "implicit_euler")
    }
)
_BAD_NAMES = st.sampled_from(["", "DOPRI5", "rk45", "adjoint_seminorm", "nope", " "])
_ANY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-2, 2),
    st.none(),
    st.text(max_size=2),
)


def _mostly(valid, invalid):
    """Draw from ``invalid`` about one time in eight, so most examples reach the solve.

    (``st.one_of`` does not pick its branches uniformly; a middle integer is drawn rarely.)
    """
    return st.integers(1, 8).flatmap(lambda k: invalid if k == 4 else valid)


@st.composite
def constructor_kwargs(draw):
    backend = draw(_mostly(st.sampled_from(BACKENDS), _BAD_NAMES))
    known = backend in SOLVERS
    valid_solvers = [n for n in _FUZZED_SOLVERS if n in SOLVERS.get(backend, ())] or ["dopri5"]
    return {
        "backend": backend,
        "solver": draw(_mostly(st.sampled_from(valid_solvers), _BAD_NAMES)),
        "sensitivity": draw(
            _mostly(st.sampled_from(SENSITIVITIES[backend] if known else ["autograd"]), _BAD_NAMES)
        ),
        "atol": draw(_mostly(st.sampled_from([1e-3, 1e-4, 1e-2]), _ANY_NUMBER)),
        "rtol": draw(_mostly(st.sampled_from([1e-3, 1e-4, 1e-2]), _ANY_NUMBER)),
        "t_span": draw(
            _mostly(
                st.sampled_from([(0.0, 1.0), (0.0, 0.5, 1.0), (1.0, 0.0)]),
                st.lists(
                    st.floats(-2, 2, allow_nan=False) | st.just(math.nan), min_size=0, max_size=4
                ),
            )
        ),
        # Always a budget: a fuzzed solve must end, whatever it is given.
        "max_nfe": draw(_mostly(st.just(2_000), st.integers(-1, 50))),
    }


@st.composite
def states(draw):
    ndim = draw(st.sampled_from([0, 1, 2, 2, 2, 2, 2, 2, 3, 4, 4, 4]))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dtype = draw(
        _mostly(
            st.sampled_from([torch.float32, torch.float64]),
            st.sampled_from([torch.int64, torch.complex64]),
        )
    )
    x = torch.randn(shape).to(dtype) if dtype.is_floating_point or dtype.is_complex else None
    if x is None:
        x = torch.randint(-3, 3, shape, dtype=dtype)
    if draw(st.integers(1, 8)) == 4 and x.numel() and x.is_floating_point():
        x.view(-1)[0] = draw(st.sampled_from([math.nan, math.inf, 1e3]))
    return x


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    kwargs=constructor_kwargs(),
    augment_dims=_mostly(st.integers(0, 3), st.one_of(st.integers(-2, -1), st.floats(0, 2))),
    size_error=_mostly(st.just(0), st.integers(-2, 2)),
    x=states(),
)
def test_every_call_returns_documented_shape_or_raises_documented_error(
    kwargs, augment_dims, size_error, x
):
    torch.manual_seed(0)
    valid_dims = isinstance(augment_dims, int) and augment_dims >= 0
    state_size = (x.shape[1] if x.ndim > 1 else 1) + (augment_dims if valid_dims else 0)
    field_size = max(1, state_size + size_error)
    field = ConvVectorField(field_size, 4) if x.ndim == 4 else MLPVectorField(field_size, 8)
    try:
        model = AugmentedNeuralODE(field, augment_dims=augment_dims, **kwargs)
    except DOCUMENTED as error:
        event(f"constructor raised {type(error).__name__}")
        return
    try:
        t_eval, sol = model(x)
    except DOCUMENTED as error:
        event(f"call raised {type(error).__name__}")
        return
    event("solved")
    assert sol.shape[1:] == (x.shape[0], x.shape[1] + model.augment_dims, *x.shape[2:])
    assert sol.shape[0] == t_eval.shape[0]
    assert sol.dtype == x.dtype


@pytest.mark.parametrize("backend", BACKENDS)
def test_inverse_and_features_refuse_bad_states_with_documented_errors(backend):
    model = AugmentedNeuralODE(MLPVectorField(3, 8), augment_dims=1, backend=backend)
    for bad in (torch.ones(3), torch.ones(2, 3, dtype=torch.int32), torch.full((2, 3), math.nan)):
        with pytest.raises(DOCUMENTED):
            model.inverse(bad)
        with pytest.raises(DOCUMENTED):
            model.features(bad[..., :2] if bad.ndim == 2 else bad)
