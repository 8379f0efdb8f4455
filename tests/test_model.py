"""``AugmentedNeuralODE``: call contract, vector-field styles, backends and argument errors."""

from __future__ import annotations

import math

import pytest
import torch
import torchdyn.nn
from helpers import BACKEND_SENSITIVITIES, LinearField, solve_error_bound
from torch import nn
from torchdyn.core import NeuralODE

from anode_plugin import SOLVERS, AugmentedNeuralODE, ConvVectorField, MLPVectorField

pytestmark = pytest.mark.numerics


def _mlp(dim: int, seed: int = 0, **kwargs) -> MLPVectorField:
    torch.manual_seed(seed)
    return MLPVectorField(dim, 16, **kwargs)


def test_is_a_torchdyn_neural_ode():
    model = AugmentedNeuralODE(_mlp(5), augment_dims=3)
    assert isinstance(model, NeuralODE)
    assert model.augment_dims == 3


def test_forward_returns_t_eval_and_solution():
    model = AugmentedNeuralODE(_mlp(5), augment_dims=3)
    x = torch.randn(8, 2)
    t_eval, sol = model(x)
    assert torch.equal(t_eval, torch.tensor([0.0, 1.0]))
    assert sol.shape == (2, 8, 5)
    # The initial state is x followed by p zeros (placement='last', the paper's convention).
    assert torch.equal(sol[0, :, :2], x)
    assert torch.count_nonzero(sol[0, :, 2:]) == 0


def test_forward_with_a_t_span_at_call_time():
    model = AugmentedNeuralODE(_mlp(4), augment_dims=1)
    t = torch.linspace(0, 1, 6)
    t_eval, sol = model(torch.randn(3, 3), t)
    assert torch.equal(t_eval, t)
    assert sol.shape == (6, 3, 4)


def test_return_t_eval_false_gives_the_solution_alone():
    model = AugmentedNeuralODE(_mlp(5), augment_dims=3, return_t_eval=False)
    sol = model(torch.randn(4, 2))
    assert isinstance(sol, torch.Tensor)
    assert sol.shape == (2, 4, 5)


def test_features_is_the_final_state():
    model = AugmentedNeuralODE(_mlp(5), augment_dims=3)
    x = torch.randn(7, 2)
    features = model.features(x)
    assert features.shape == (7, 5)
    torch.testing.assert_close(features, model(x)[1][-1])


def test_images_augment_channels():
    torch.manual_seed(0)
    model = AugmentedNeuralODE(ConvVectorField(3 + 2, 8), augment_dims=2)
    x = torch.randn(2, 3, 4, 5)
    _, sol = model(x)
    assert sol.shape == (2, 2, 5, 4, 5)
    assert torch.equal(sol[0, :, :3], x)
    assert torch.count_nonzero(sol[0, :, 3:]) == 0
    assert model.features(x).shape == (2, 5, 4, 5)


def test_same_as_hand_built_torchdyn_pipeline():
    field = _mlp(5, time_dependent=False)
    x = torch.randn(6, 2)
    ours = AugmentedNeuralODE(field, augment_dims=3, placement="last").features(x)
    node = NeuralODE(field, solver="dopri5", atol=1e-3, rtol=1e-3)
    _, theirs = node(torchdyn.nn.Augmenter(1, 3, order="last")(x))
    torch.testing.assert_close(ours, theirs[-1], rtol=1e-6, atol=1e-6)


def test_augment_dims_zero_is_a_plain_neural_ode():
    field = _mlp(2)
    x = torch.randn(6, 2)
    model = AugmentedNeuralODE(field, augment_dims=0)
    _, ours = model(x)
    _, theirs = NeuralODE(field, solver="dopri5", atol=1e-3, rtol=1e-3)(x)
    assert ours.shape == (2, 6, 2)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


class _FX(nn.Module):
    def forward(self, x):
        return -x


class _FTX(nn.Module):
    def forward(self, t, x):
        return -x


class _FTXArgs(nn.Module):
    def forward(self, t, x, args):
        return -x


def _f_tx(t, x):
    return -x


def _f_tx_args(t, x, args):
    return -x


@pytest.mark.parametrize(
    "field",
    [_FX(), _FTX(), _FTXArgs(), lambda x: -x, _f_tx, _f_tx_args],
    ids=["module f(x)", "module f(t,x)", "module f(t,x,args)", "f(x)", "f(t,x)", "f(t,x,args)"],
)
def test_every_vector_field_style(field):
    # dx/dt = -x: x(1) = x(0) / e, whatever way the field is written.
    x = torch.randn(5, 2, dtype=torch.float64)
    model = AugmentedNeuralODE(field, augment_dims=1, atol=1e-9, rtol=1e-9).double()
    features = model.features(x)
    torch.testing.assert_close(features[:, :2], x / math.e, rtol=0, atol=6e-8)  # measured 6.9e-9
    assert torch.count_nonzero(features[:, 2:]) == 0


def test_plain_t_x_module_fails_in_torchdyn_but_not_here():
    x = torch.randn(3, 2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'args'"):
        NeuralODE(_FTX())(x)
    _, sol = AugmentedNeuralODE(_FTX(), augment_dims=0)(x)
    assert sol.shape == (2, 3, 2)


def test_args_reach_a_field_that_takes_them():
    seen = []

    def field(t, x, args):
        seen.append(args)
        return -x

    AugmentedNeuralODE(field, augment_dims=0, solver="euler")(torch.randn(2, 1), args={"k": 1})
    assert seen and all(a == {"k": 1} for a in seen)


@pytest.mark.parametrize("augment_dims", [0, 2])
def test_backends_agree(augment_dims):
    field = _mlp(3 + augment_dims).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    tol = {"atol": 1e-10, "rtol": 1e-10}
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    _, dyn = AugmentedNeuralODE(field, augment_dims=augment_dims, backend="torchdyn", **tol)(x, t)
    _, diffeq = AugmentedNeuralODE(field, augment_dims=augment_dims, backend="torchdiffeq", **tol)(
        x, t
    )
    assert dyn.shape == diffeq.shape == (4, 10, 3 + augment_dims)
    # Two solvers with their own step sequences: each within its error bound.
    bound = 2 * solve_error_bound(1e-10, torch.float64, scale=dyn.abs().max().item())
    torch.testing.assert_close(dyn, diffeq, rtol=0, atol=bound)


def test_backends_agree_on_images():
    torch.manual_seed(3)
    # A smooth activation keeps the tight-tolerance solve short (ReLU kinks cost many steps).
    field = ConvVectorField(2 + 1, 4, activation="tanh").double()
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    tol = {"atol": 1e-9, "rtol": 1e-9}
    dyn = AugmentedNeuralODE(field, augment_dims=1, backend="torchdyn", **tol).features(x)
    diffeq = AugmentedNeuralODE(field, augment_dims=1, backend="torchdiffeq", **tol).features(x)
    torch.testing.assert_close(dyn, diffeq, rtol=0, atol=2e-7)  # measured 2.2e-8 (both CPUs)


def test_float64_uses_float64_tableaus():
    # dx/dt = -x has x(1) = x(0) / e. With torchdyn's float32 tableaus the error of this
    # solve stalls near 8e-9 however tight the tolerances (measured); float64 ones reach 2e-10.
    x = torch.linspace(-1, 1, 9, dtype=torch.float64).reshape(9, 1)
    model = AugmentedNeuralODE(
        LinearField(-1.0), augment_dims=0, atol=1e-13, rtol=1e-13, backend="torchdyn"
    ).double()
    features = model.features(x)
    assert features.dtype == torch.float64
    assert model.solve.backend.solver_module(None, torch.float64).tableau[0].dtype == torch.float64
    err = (features - x / math.e).abs().max().item()
    assert err < 1e-9, f"error {err:.2e}"


def test_inverse_recovers_the_input():
    field = _mlp(4).double()
    model = AugmentedNeuralODE(field, augment_dims=2, atol=1e-10, rtol=1e-10)
    x = torch.randn(6, 2, dtype=torch.float64)
    # Measured: 7.7e-8 (both CPU capabilities, benchmarks/tolerance_audit.py).
    torch.testing.assert_close(model.inverse(model.features(x)), x, rtol=0, atol=6e-7)


def test_gradients_flow_to_the_weights():
    field = _mlp(4)
    model = AugmentedNeuralODE(field, augment_dims=2)
    model.features(torch.randn(5, 2)).pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in field.parameters())


def test_fixed_step_solver_options_on_torchdiffeq():
    model = AugmentedNeuralODE(
        LinearField(-1.0),
        augment_dims=0,
        backend="torchdiffeq",
        solver="euler",
        solver_options={"step_size": 0.25},
    )
    x = torch.ones(1, 1)
    model.features(x)
    assert model.nfe.forward == 4  # one evaluation per Euler step


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"solver": "dopri7"}, r"`solver` must be one of \['euler', .*'dopri5'.*\], got 'dopri7'"),
        (
            {"backend": "torchdiffeq", "solver": "tsit5"},
            r"`solver` must be one of \['dopri8', 'dopri5', .*\], got 'tsit5'",
        ),
        (
            {"backend": "jax"},
            r"`backend` must be one of \['torchdyn', 'torchdiffeq', 'torchode', 'native'\], "
            r"got 'jax'",
        ),
        (
            {"sensitivity": "adj"},
            r"`sensitivity` must be one of \['autograd', 'adjoint', 'interpolated_adjoint'\], "
            r"got 'adj'",
        ),
        (
            {"backend": "torchdiffeq", "sensitivity": "interpolated_adjoint"},
            r"`sensitivity` must be one of \['autograd', 'adjoint'\], got 'interpolated_adjoint'",
        ),
        ({"atol": 0}, r"`atol` must be a positive finite number, got 0"),
        ({"rtol": -1e-3}, r"`rtol` must be a positive finite number, got -0\.001"),
        ({"atol": float("inf")}, r"`atol` must be a positive finite number, got inf"),
        ({"max_nfe": 0}, r"`max_nfe` must be a positive integer, got 0"),
        ({"t_span": [0.0]}, r"`t_span` must be 1-D with at least two times, got shape \(1,\)"),
        (
            {"t_span": [0.0, 1.0, 0.5]},
            r"`t_span` must be strictly increasing or strictly decreasing, "
            r"got \[0\.0, 1\.0, 0\.5\]",
        ),
        (
            {"t_span": [0.0, 0.0]},
            r"`t_span` must be strictly increasing or strictly decreasing, got \[0\.0, 0\.0\]",
        ),
        ({"t_span": [0.0, float("nan")]}, r"`t_span` must hold finite times"),
        ({"augment_idx": 0}, r"`augment_idx`=0 is the batch dimension of the model's input"),
        (
            {"solver_options": {"step_size": 0.1}},
            r"`solver_options` .* need backend='torchdiffeq', got backend='native'",
        ),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AugmentedNeuralODE(_mlp(2), augment_dims=0, **kwargs)


@pytest.mark.parametrize("augment_dims", [-1, 1.5])
def test_bad_augment_dims(augment_dims):
    with pytest.raises(ValueError, match=r"`augment_dims` must be a non-negative integer"):
        AugmentedNeuralODE(_mlp(2), augment_dims=augment_dims)


def test_bad_t_span_at_call_time():
    model = AugmentedNeuralODE(_mlp(2), augment_dims=0)
    with pytest.raises(ValueError, match=r"strictly increasing or strictly decreasing"):
        model(torch.randn(2, 2), torch.tensor([0.0, 0.0]))


def test_bad_state_type_and_shape():
    model = AugmentedNeuralODE(_mlp(2), augment_dims=0)
    with pytest.raises(TypeError, match=r"`x` must have a real floating-point dtype"):
        model(torch.ones(2, 2, dtype=torch.long))
    # torchdyn takes a 1-D state; here the first dimension is always the batch: say how.
    with pytest.raises(
        ValueError,
        match=r"^`x` must have at least 2 dimensions \(\[batch, \.\.\.\]\), got shape \(2,\)\. "
        r"For one sample, pass `x\[None\]` \(shape \(1, 2\)\); the first dimension is always "
        r"the batch\.$",
    ):
        model(torch.randn(2))


def test_field_of_the_wrong_size_names_augment_dims():
    from anode_plugin import StateShapeError

    model = AugmentedNeuralODE(_mlp(2), augment_dims=3)  # the field should have size 2 + 3
    with pytest.raises(StateShapeError, match=r"augment_dims"):
        model(torch.randn(4, 2))


def test_allowed_solvers_are_listed():
    assert "dopri5" in SOLVERS["torchdyn"] and "dopri5" in SOLVERS["torchdiffeq"]
    assert "alf" not in SOLVERS["torchdyn"]


# ------------------------------------------------------------------ inputs that used to hang
@pytest.mark.parametrize(("backend", "sensitivity"), BACKEND_SENSITIVITIES)
def test_an_empty_batch_returns_an_empty_solution_at_once(backend, sensitivity):
    # dopri5 looped forever on torchdyn (torchdiffeq: a misleading underflow error);
    # the budget turns a regression into a failure instead of a hang.
    model = AugmentedNeuralODE(
        _mlp(3), augment_dims=1, backend=backend, sensitivity=sensitivity, max_nfe=1000
    )
    t = torch.linspace(0, 1, 3)
    t_eval, sol = model(torch.randn(0, 2), t)
    assert torch.equal(t_eval, t)
    assert sol.shape == (3, 0, 3)
    assert model.features(torch.randn(0, 2)).shape == (0, 3)
    assert model.inverse(torch.randn(0, 3)).shape == (0, 2)
    assert model.nfe.total == 0


def test_an_empty_batch_has_empty_regularisers():
    model = AugmentedNeuralODE(
        _mlp(3), augment_dims=1, regularisers=("kinetic", "jacobian"), max_nfe=1000
    )
    assert model.features(torch.randn(0, 2)).shape == (0, 3)
    assert {k: v.shape for k, v in model.regularisation.items()} == {
        "kinetic": (0,),
        "jacobian": (0,),
    }


def test_interpolated_adjoint_returns_exactly_the_requested_times():
    # torchdyn 1.0.6 inserts its checkpoint times: 5 requested times came back as 6.
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    x = torch.randn(4, 2, dtype=torch.float64)
    weights = torch.arange(1.0, 6.0, dtype=torch.float64).reshape(5, 1, 1)
    solutions, grads = {}, {}
    for sensitivity in ("interpolated_adjoint", "autograd"):
        field = _mlp(3, time_dependent=False).double()
        model = AugmentedNeuralODE(
            field, augment_dims=1, sensitivity=sensitivity, atol=1e-9, rtol=1e-9
        )
        t_eval, sol = model(x, t)
        assert torch.equal(t_eval, t) and sol.shape == (5, 4, 3)
        # A loss on every time: each row's gradient must reach the solve at its time.
        (weights * sol.pow(2)).sum().backward()
        solutions[sensitivity] = sol.detach()
        grads[sensitivity] = torch.cat([p.grad.flatten() for p in field.parameters()])
    bound = 2 * solve_error_bound(1e-9, torch.float64, scale=solutions["autograd"].abs().max())
    torch.testing.assert_close(
        solutions["interpolated_adjoint"], solutions["autograd"], rtol=0, atol=bound
    )
    # The interpolated adjoint reads the forward solution from a cubic spline through
    # the solver's checkpoints: its gradients are close, not exact (0.15% measured).
    scale = grads["autograd"].abs().max()
    assert (grads["interpolated_adjoint"] - grads["autograd"]).abs().max() < 0.01 * scale


def test_interpolated_adjoint_refuses_a_decreasing_span_when_gradients_are_wanted():
    model = AugmentedNeuralODE(_mlp(3), augment_dims=1, sensitivity="interpolated_adjoint")
    x = torch.randn(4, 2)
    with pytest.raises(
        ValueError,
        match=(
            r"sensitivity='interpolated_adjoint' computes"
            r" wrong gradients when `t_span` decreases"
        ),
    ):
        model(x, torch.tensor([1.0, 0.0]))
    with torch.no_grad():
        z = model.features(x)
        assert model.inverse(z).shape == x.shape  # no gradient: fine
        assert model(x, torch.tensor([1.0, 0.5, 0.0]))[1].shape == (3, 4, 3)


# ------------------------------------------------------------------ the solve as objects
def test_a_ready_solve_gives_the_same_model_as_the_flat_options():
    from anode_plugin.solve import Adjoint, Solve, TorchdiffeqBackend

    x = torch.randn(6, 2)
    flat = AugmentedNeuralODE(
        _mlp(3),
        augment_dims=1,
        backend="torchdiffeq",
        sensitivity="adjoint",
        seminorm=True,
        atol=1e-5,
    )
    solve = Solve(TorchdiffeqBackend("dopri5", atol=1e-5, rtol=1e-3), Adjoint(seminorm=True))
    composed = AugmentedNeuralODE(_mlp(3), augment_dims=1, solve=solve)
    assert composed.solve == flat.solve
    torch.testing.assert_close(composed.features(x), flat.features(x), rtol=0, atol=0)
    assert "solve: Solve(backend=TorchdiffeqBackend(solver='dopri5'" in repr(composed)


def test_solve_and_flat_options_are_not_mixed():
    from anode_plugin.solve import Solve

    with pytest.raises(ValueError, match=r"either `solve` or the flat solver options.*`atol`"):
        AugmentedNeuralODE(_mlp(3), augment_dims=1, solve=Solve(), atol=1e-5)
    with pytest.raises(TypeError, match=r"`solve` must be an anode_plugin.solve.Solve"):
        AugmentedNeuralODE(_mlp(3), augment_dims=1, solve="dopri5")


@pytest.mark.parametrize(("backend", "sensitivity"), BACKEND_SENSITIVITIES)
def test_torchdyn_attributes_keep_their_type_whatever_the_backend(backend, sensitivity):
    model = AugmentedNeuralODE(_mlp(3), augment_dims=1, backend=backend, sensitivity=sensitivity)
    assert isinstance(model, NeuralODE)
    assert model.solver == "dopri5" and model.backend == backend
    assert isinstance(model.atol, float) and isinstance(model.t_span, torch.Tensor)
    assert model.sensitivity == sensitivity and model.vf.field is model.vector_field
    model.atol = 1e-5  # settable, as on a torchdyn NeuralODE: the solve is rebuilt
    assert model.solve.backend.atol == 1e-5


def test_torchdyns_odeint_solves_an_augmented_state():
    model = AugmentedNeuralODE(_mlp(3), augment_dims=1)
    z0 = model.augmenter(torch.randn(4, 2))
    t = torch.linspace(0, 1, 3)
    t_eval, sol = model.odeint(z0, t)
    assert torch.equal(t_eval, t)
    torch.testing.assert_close(sol[-1], model.features(model.augmenter.strip(z0), t))


def test_solver_and_sensitivity_can_be_set_as_torchdyns_tutorials_do():
    # The generalized-adjoint tutorial switches model.sensitivity during training: the
    # solve is rebuilt with the constructor's checks, the other options kept.
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, atol=1e-6, rtol=1e-6)
    x = torch.randn(4, 2)
    model.sensitivity = "adjoint"  # from autograd: the adjoint's defaults
    assert model.sensitivity == "adjoint" and model.atol_adjoint == 1e-4 and model.atol == 1e-6
    model.atol_adjoint = 1e-7
    model.features(x).sum().backward()
    assert model.nfe.backward > 0
    model.sensitivity = "autograd"
    model.solver = "rk4"
    assert (model.solver, model.sensitivity, model.atol_adjoint) == ("rk4", "autograd", None)
    model.sensitivity = "adjoint"  # back: the last adjoint's options
    assert model.atol_adjoint == 1e-7
    model.sensitivity = "autograd"
    model.reset_nfe()
    model.features(x)
    assert model.nfe.forward == 4  # one rk4 step over t_span
    with pytest.raises(ValueError, match=r"`sensitivity` must be one of \['autograd', 'adjoint'\]"):
        model.sensitivity = "adj"
    with pytest.raises(ValueError, match=r"`solver` must be one of \['euler', 'midpoint'"):
        model.solver = "rk45"
    assert (model.solver, model.sensitivity) == ("rk4", "autograd")  # left as they were
