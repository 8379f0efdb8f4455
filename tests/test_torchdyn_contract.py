"""``AugmentedNeuralODE`` keeps torchdyn ``NeuralODE``'s contract.

Each mechanism of torchdyn 1.0.6's ``NeuralODE`` is run on both models with the same
weights: where the two integrate the same system with the same torchdyn solver, the
solutions are compared exactly (both step with the same tableau in the same dtype),
and the NFE count with torchdyn's own count of its wrapper's calls. The default backend
is the native one, whose solutions agree with torchdyn's within the solve's tolerance
(tests/solve/native/): the exact comparisons ask for ``backend='torchdyn'``,
except where the default itself hands the solve to torchdyn (DataControl and CNF
modules, dict states).
"""

from __future__ import annotations

import copy
import functools
import inspect
import warnings

import pytest
import torch
import torchdyn.nn
from torch import nn
from torchdyn.core import NeuralODE
from torchdyn.models.cnf import CNF, hutch_trace
from torchdyn.numerics.solvers.ode import Euler

from anode_plugin import (
    AugmentedNeuralODE,
    Augmenter,
    AugmentIndexError,
    AugmentTypeError,
    AugmentValueError,
    MLPVectorField,
    StateShapeError,
)

pytestmark = pytest.mark.numerics


def _mlp(inputs: int, outputs: int | None = None, *, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, 16), nn.Tanh(), nn.Linear(16, outputs or inputs))


def _torchdyn(field: nn.Module, *args, **kwargs) -> NeuralODE:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchdyn's own deprecation noise
        return NeuralODE(copy.deepcopy(field), *args, **kwargs)


def _pair(field: nn.Module, *args, **kwargs) -> tuple[NeuralODE, AugmentedNeuralODE]:
    """torchdyn's model and ours on copies of ``field``, same positional arguments."""
    return _torchdyn(field, *args, **kwargs), AugmentedNeuralODE(
        copy.deepcopy(field), *args, augment_dims=0, **kwargs
    )


X = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
T = torch.linspace(0, 1, 5)


# ---------------------------------------------------------------- the constructor
def test_the_positional_parameters_are_torchdyns_in_torchdyns_order():
    theirs = list(inspect.signature(NeuralODE.__init__).parameters)[1:]
    ours = list(inspect.signature(AugmentedNeuralODE.__init__).parameters)[1:]
    assert ours[: len(theirs)] == theirs
    kinds = {p.kind for p in inspect.signature(AugmentedNeuralODE.__init__).parameters.values()}
    assert inspect.Parameter.VAR_POSITIONAL not in kinds  # a real signature, for the CLI


def test_every_positional_argument_lands_where_torchdyn_puts_it():
    field, loss = _mlp(2), lambda t, x: x.pow(2).sum(1)
    model = AugmentedNeuralODE(
        field, "rk4", 1, 1e-5, 1e-6, "adjoint", "euler", 1e-7, 1e-8, None, loss, True, False,
        (), augment_dims=0,
    )  # fmt: skip
    assert (model.solver, model.order, model.atol, model.rtol) == ("rk4", 1, 1e-5, 1e-6)
    assert (model.sensitivity, model.solver_adjoint) == ("adjoint", "euler")
    assert (model.atol_adjoint, model.rtol_adjoint, model.interpolator) == (1e-7, 1e-8, None)
    assert model.integral_loss is loss and model.seminorm is True
    assert model.return_t_eval is False


def test_the_signature_is_the_constructors():
    # No metaclass stands between the class and its __init__: IPython's `?`, hydra-style
    # instantiation and jsonargparse read the real parameters.
    signature = inspect.signature(AugmentedNeuralODE)
    init = list(inspect.signature(AugmentedNeuralODE.__init__).parameters.values())[1:]
    assert list(signature.parameters.values()) == init
    augment_dims = signature.parameters["augment_dims"]
    assert augment_dims.kind is inspect.Parameter.KEYWORD_ONLY
    assert augment_dims.default is inspect.Parameter.empty
    assert list(signature.parameters)[:3] == ["vector_field", "solver", "order"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        # The removed AugmentedNeuralODE(f, p): p is torchdyn's `solver` now.
        ((1,), {}, TypeError, "missing 1 required keyword-only argument: 'augment_dims'"),
        ((1,), {"augment_dims": 1}, ValueError, r"`solver` must be one of .*, got 1"),
        ((), {}, TypeError, "missing 1 required keyword-only argument: 'augment_dims'"),
    ],
)
def test_the_removed_positional_augment_dims_or_none_is_refused(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        AugmentedNeuralODE(MLPVectorField(3), *args, **kwargs)


# ---------------------------------------------------------------- the attributes
def _names_of(instance: nn.Module) -> list[str]:
    return sorted(name for name in dir(instance) if not name.startswith("_"))


def _read(instance: nn.Module, name: str):
    try:
        return getattr(instance, name), None
    except Exception as error:  # a Lightning property outside a Trainer raises
        return None, type(error)


@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint", "interpolated_adjoint"])
def test_every_public_name_of_a_torchdyn_neural_ode_exists_with_its_value(sensitivity):
    field = nn.Sequential(torchdyn.nn.DataControl(), nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    theirs, ours = _pair(field, "dopri5", sensitivity=sensitivity)
    theirs(X, T), ours(X, T)  # torchdyn sets `controlled` on the first call
    names = _names_of(theirs)
    assert len(names) > 100  # nn.Module's, LightningModule's and NeuralODE's own
    for name in names:
        # The same name raises the same error (a Lightning property outside a Trainer),
        # or neither raises.
        assert _read(ours, name)[1] is _read(theirs, name)[1], name
    same = ["order", "atol", "rtol", "sensitivity", "sensalg", "interpolator", "integral_loss"]
    same += ["return_t_eval", "controlled", "device", "dtype", "training", "automatic_optimization"]
    if sensitivity != "autograd":  # ours has no adjoint tolerances without an adjoint
        same += ["atol_adjoint", "rtol_adjoint"]
    for name in same:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert torch.equal(ours.vf_params, theirs.vf_params)
    assert ours.vf.nfe == theirs.vf.nfe  # torchdyn's count of its wrapper's calls
    assert isinstance(ours.vf, nn.Module) and isinstance(ours.t_span, torch.Tensor)


def test_device_and_dtype_follow_the_model():
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    assert (model.device, model.dtype) == (torch.device("cpu"), torch.float32)
    model.double()
    assert model.dtype == torch.float64
    with pytest.raises(RuntimeError, match="is not attached to a `Trainer`"):
        _ = model.trainer


# ---------------------------------------------------------------- the mechanisms
@pytest.mark.parametrize("augment_dims", [0, 1])
def test_a_data_controlled_field_gets_the_initial_state(augment_dims):
    d = 2 + augment_dims
    field = nn.Sequential(torchdyn.nn.DataControl(), nn.Linear(2 * d, 16), nn.Tanh())
    field.append(nn.Linear(16, d))
    theirs = _torchdyn(field, "dopri5")
    ours = AugmentedNeuralODE(copy.deepcopy(field), augment_dims=augment_dims)
    z0 = torchdyn.nn.Augmenter(1, augment_dims, order="last")(X)
    assert torch.equal(ours(X, T)[1], theirs(z0, T)[1])
    assert ours.nfe.forward == theirs.vf.nfe and ours.controlled
    assert torch.equal(ours.vf.field[0]._control, z0)
    with pytest.raises(ValueError, match="`inverse` cannot invert a data-controlled field"):
        ours.inverse(ours.features(X))


def test_a_torchdyn_cnf_gets_its_hutchinson_noise_and_trains():
    net = _mlp(2)
    noise = torch.distributions.Normal(torch.zeros(2), torch.ones(2))
    cnf = CNF(net, trace_estimator=hutch_trace, noise_dist=noise)
    theirs, ours = _pair(cnf, "dopri5", sensitivity="adjoint")
    x = torch.cat([torch.zeros(8, 1), X], 1)  # column 0 carries the log-determinant
    torch.manual_seed(3)
    expected = theirs(x, T)[1]
    torch.manual_seed(3)
    got = ours(x, T)[1]
    assert torch.equal(got, expected) and ours.nfe.forward == theirs.vf.nfe
    assert ours.vf.field.noise.shape == (8, 2)
    got[-1].sum().backward()
    assert ours.nfe.backward > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ours.parameters())


def test_an_integral_loss_under_autograd_is_column_zero():
    def loss(t, x):
        return 0.1 * x[:, :1] ** 2

    theirs, ours = _pair(_mlp(2), "rk4", integral_loss=loss)
    ours = AugmentedNeuralODE(
        _mlp(2), "rk4", integral_loss=loss, augment_dims=0, backend="torchdyn"
    )
    x0 = torch.cat([torch.zeros(8, 1), X], 1)
    expected, got = theirs(x0, T)[1], ours(x0, T)[1]
    assert torch.equal(got, expected) and got.shape == (5, 8, 3)
    assert ours.nfe.forward == theirs.vf.nfe == 16  # 4 rk4 steps of 4 evaluations
    assert bool((got[-1, :, 0] > 0).all())  # the running integral of a positive g
    with pytest.raises(
        ValueError,
        match=r"With `integral_loss` and sensitivity='autograd' the input is torchdyn's \[batch",
    ):
        ours(torch.randn(8, 1))


# The largest difference from autograd's gradients at tol 1e-9 in float64, measured on
# AVX512 kernels and under ATEN_CPU_CAPABILITY=default (the same on both): 6.9e-8
# (torchdyn's adjoint), 8.3e-8 (torchdiffeq's) and 4.9e-5 for the interpolated adjoint,
# whose spline through the forward checkpoints limits it. Bounds: 6x and 8x those.
INTEGRAL_LOSS_GRADIENT_ATOL = {"adjoint": 5e-7, "interpolated_adjoint": 4e-4}


@pytest.mark.parametrize(
    ("backend", "sensitivity"),
    [("torchdyn", "adjoint"), ("torchdiffeq", "adjoint"), ("torchdyn", "interpolated_adjoint")],
)
def test_an_integral_loss_gives_the_adjoint_autograds_gradients(backend, sensitivity):
    def loss(t, x):
        return (x * x).sum(1) + t

    tight = {"atol": 1e-9, "rtol": 1e-9, "backend": backend}
    field = _mlp(3, seed=1).double()
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    reference = AugmentedNeuralODE(
        copy.deepcopy(field), integral_loss=loss, augment_dims=1, **tight
    ).double()
    adjoint = AugmentedNeuralODE(
        copy.deepcopy(field), sensitivity=sensitivity, integral_loss=loss, augment_dims=1,
        atol_adjoint=1e-9, rtol_adjoint=1e-9, **tight,
    ).double()  # fmt: skip
    # Autograd: the integral in column 0 of the solution. Adjoint: no such column, the
    # backward solve adds the integral's gradients to those of the final state's loss.
    x_ref = torch.cat([torch.zeros(6, 1, dtype=torch.float64), x], 1).requires_grad_(True)
    sol = reference(x_ref, T.double())[1]
    (sol[-1, :, 0].sum() + sol[-1, :, 1:].sum()).backward()
    x_adj = x.clone().requires_grad_(True)
    adjoint(x_adj, T.double())[1][-1].sum().backward()
    assert adjoint.nfe.backward > 0
    close = {"rtol": 0, "atol": INTEGRAL_LOSS_GRADIENT_ATOL[sensitivity]}
    torch.testing.assert_close(x_adj.grad, x_ref.grad[:, 1:], **close)
    for p, q in zip(adjoint.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, **close)


def test_an_integral_loss_of_another_shape_is_named():
    model = AugmentedNeuralODE(_mlp(2), integral_loss=lambda t, x: x, augment_dims=0)
    x0 = torch.cat([torch.zeros(8, 1), X], 1)
    with pytest.raises(
        StateShapeError, match=r"`integral_loss` must return one value per sample, \[batch\]"
    ):
        model(x0, T)


def test_an_integral_loss_needs_a_callable_and_no_regularisers():
    with pytest.raises(TypeError, match="`integral_loss` must be a callable"):
        AugmentedNeuralODE(MLPVectorField(3), integral_loss=3, augment_dims=1)
    with pytest.raises(ValueError, match="Pass `integral_loss` or `regularisers`, not both"):
        AugmentedNeuralODE(
            MLPVectorField(3),
            integral_loss=lambda t, x: x,
            regularisers=("kinetic",),
            augment_dims=1,
        )


@pytest.mark.parametrize("solver", ["euler", "dopri5"])
def test_save_at_returns_those_times_of_t_span(solver):
    t = torch.linspace(0, 1, 11)
    keep = t[[2, 5, 9]]
    ours = AugmentedNeuralODE(_mlp(2), solver, augment_dims=0, backend="torchdyn")
    _, all_rows = ours(X, t)
    t_eval, sol = ours(X, t, keep)
    assert torch.equal(t_eval, keep) and torch.equal(sol, all_rows[[2, 5, 9]])
    if solver == "euler":  # torchdyn honours save_at for fixed-step solvers only
        theirs = _torchdyn(_mlp(2), solver)
        t_theirs, sol_theirs = theirs(X, t, keep)
        assert torch.equal(t_theirs, t_eval) and torch.equal(sol_theirs, sol)
    t_odeint, sol_odeint = ours.odeint(X, t, save_at=keep)
    assert torch.equal(sol_odeint, sol) and torch.equal(t_odeint, keep)


@pytest.mark.parametrize("save_at", [(0.55,), (0.5, 0.5), [[0.5]], "late"])
def test_save_at_outside_t_span_is_refused_before_the_solve(save_at):
    model = AugmentedNeuralODE(_mlp(3), augment_dims=1)
    with pytest.raises(ValueError, match="`save_at`"):
        model(X, torch.linspace(0, 1, 11), save_at)
    assert model.nfe.total == 0


def test_order_two_is_torchdyns_higher_order_system():
    field = _mlp(4, 2)  # sees [x, v], returns the acceleration
    theirs, _ = _pair(field, "dopri5", 2)
    ours = AugmentedNeuralODE(copy.deepcopy(field), "dopri5", 2, augment_dims=0, backend="torchdyn")
    xv = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(ours(xv, T)[1], theirs(xv, T)[1])
    assert ours.order == 2 and ours.nfe.forward == theirs.vf.nfe


def test_order_three_differentiates_twice():
    # x''' = -x from (1, 0, -1): x = cos(t) - ... ; check x' and x'' are the lower blocks.
    model = AugmentedNeuralODE(lambda t, x: -x[:, :1], "rk4", 3, augment_dims=0).double()
    x0 = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    t = torch.linspace(0, 1, 201, dtype=torch.float64)
    sol = model(x0, t)[1]
    derivative = (sol[2:, 0, 0] - sol[:-2, 0, 0]) / (t[2:] - t[:-2])
    # Central differences of x against x' (error h^2/6 |x'''| ~ 4e-6 at h = 5e-3).
    torch.testing.assert_close(derivative, sol[1:-1, 0, 1], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"order": 2, "augment_dims": 1},
            r"order=2 \(torchdyn's higher-order system\) takes the state as given",
        ),
        ({"order": 2, "augment_dims": 0, "augmentation": "second_order"}, "takes the state"),
        ({"order": 0, "augment_dims": 0}, "`order` must be a positive integer"),
    ],
)
def test_order_errors_name_the_argument(options, match):
    with pytest.raises(ValueError, match=match):
        AugmentedNeuralODE(_mlp(4, 2), **options)


class _DictEuler(Euler):
    """Euler steps on a dict state, for fields that return a dict."""

    def step(self, f, x, t, dt, k1=None, args=None):
        dx = f(t, x, args)
        return None, {k: x[k] + dt * dx[k] for k in x}, None


def test_a_dict_state_is_solved_as_torchdyn_solves_it():
    def oscillator(t, x, args):
        return {"q": x["p"], "p": -x["q"]}

    x0 = {"q": torch.ones(3, 1), "p": torch.zeros(3, 1)}
    theirs = _torchdyn(oscillator, solver=_DictEuler())
    ours = AugmentedNeuralODE(oscillator, _DictEuler(), augment_dims=0)
    t = torch.linspace(0, 1, 11)
    (t_theirs, expected), (t_ours, got) = theirs(x0, t), ours(x0, t)
    assert torch.equal(t_ours, t_theirs) and got.keys() == {"q", "p"}
    for key in ("q", "p"):
        assert torch.equal(got[key], expected[key]) and got[key].shape == (11, 3, 1)
    assert ours.nfe.forward == theirs.vf.nfe == 10 and ours.steps.forward_accepted == 10


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"augment_dims": 1},
            r"A dict state `x` \(torchdyn's\) is integrated as torchdyn does, as it is: it "
            "needs augment_dims=0",
        ),
        ({"augment_dims": 0, "sensitivity": "adjoint"}, "got sensitivity='adjoint'"),
        ({"augment_dims": 0, "solver": "dopri5"}, "A dict state `x` needs a fixed-step solver"),
    ],
)
def test_a_dict_state_the_model_cannot_solve_is_refused(options, match):
    model = AugmentedNeuralODE(lambda t, x: {k: -v for k, v in x.items()}, **options)
    with pytest.raises(ValueError, match=match):
        model({"q": torch.ones(2, 1)})
    assert model.nfe.total == 0


@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint", "interpolated_adjoint"])
def test_tensor_args_reach_the_field_everywhere(sensitivity):
    class Forced(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _mlp(2)

        def forward(self, t, x, args):
            return self.net(x) + args

    model = AugmentedNeuralODE(Forced(), sensitivity=sensitivity, augment_dims=0)
    force = torch.full((8, 2), 0.5)
    _, by_forward = model(X, T, args=force)
    _, by_odeint = model.odeint(X, T, args=force)
    _, unforced = model(X, T, args=torch.zeros(8, 2))
    assert torch.equal(by_forward, by_odeint) and not torch.equal(by_forward, unforced)
    by_forward[-1].sum().backward()


@pytest.mark.parametrize("sensitivity", ["adjoint", "interpolated_adjoint"])
def test_optimizable_params_get_the_adjoints_gradients(sensitivity):
    class Shifted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, t, x, shift):
            return torch.tanh(self.linear(x + shift))

    module, shift = Shifted(), torch.full((1, 2), 0.25)
    field = functools.partial(module.forward, shift=shift)  # owns no parameters
    tight = {"atol": 1e-8, "rtol": 1e-8, "atol_adjoint": 1e-8, "rtol_adjoint": 1e-8}
    reference = AugmentedNeuralODE(field, augment_dims=0, **tight)
    reference(X, T)[1][-1].sum().backward()
    expected = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    model = AugmentedNeuralODE(
        field, "dopri5", sensitivity=sensitivity, optimizable_params=module.parameters(),
        augment_dims=0, **tight,
    )  # fmt: skip
    model(X, T)[1][-1].sum().backward()
    # float32 solves at tol 1e-8. Largest difference from autograd's gradients, measured
    # on AVX512 / under ATEN_CPU_CAPABILITY=default: 9.5e-7 / 9.5e-7 (adjoint), 1.1e-5 /
    # 2.7e-4 (interpolated adjoint). Bounds: 5x and 7x the larger.
    atol = {"adjoint": 5e-6, "interpolated_adjoint": 2e-3}[sensitivity]
    for p, g in zip(module.parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=atol)
    with pytest.raises(TypeError, match=r"`optimizable_params` must hold nn\.Parameter"):
        AugmentedNeuralODE(field, optimizable_params=[torch.zeros(2)], augment_dims=0)


def test_the_interpolator_is_torchdyns():
    theirs, ours = _pair(_mlp(2), "dopri5", interpolator="4th")
    assert torch.equal(ours(X, T)[1], theirs(X, T)[1]) and ours.nfe.forward == theirs.vf.nfe
    plain = AugmentedNeuralODE(_mlp(2), augment_dims=0)
    plain(X, T)
    assert ours.nfe.forward < plain.nfe.forward  # no step is shortened to land on T
    with pytest.raises(ValueError, match=r"`interpolator` must be one of \['4th'\]"):
        AugmentedNeuralODE(_mlp(2), interpolator="5th", augment_dims=0)
    with pytest.raises(ValueError, match="`interpolator` is torchdyn's dense output"):
        AugmentedNeuralODE(_mlp(2), interpolator="4th", backend="torchdiffeq", augment_dims=0)


# ---------------------------------------------------------------- Augmenter's errors
@pytest.mark.parametrize(
    ("options", "ours", "builtin"),
    [
        ({"augment_idx": 5}, AugmentIndexError, IndexError),
        ({"augment_idx": 1.5}, AugmentTypeError, TypeError),
        ({"augment_dims": 1.5}, AugmentTypeError, TypeError),
        ({"augment_func": 3}, AugmentTypeError, TypeError),
        ({"augment_dims": -1}, AugmentValueError, RuntimeError),
    ],
)
def test_augmenters_errors_keep_torchdyns_exception_types(options, ours, builtin):
    x = torch.ones(2, 2)
    with pytest.raises(builtin):
        torchdyn.nn.Augmenter(**options)(x)
    with pytest.raises(ours) as caught:
        Augmenter(**options)(x)
    assert isinstance(caught.value, builtin) and isinstance(caught.value, ValueError)
    assert f"`{next(iter(options))}`" in str(caught.value)


# ---------------------------------------------------------------- saving whole models
def _resolve(name: str):
    module, _, attribute = name.rpartition(".")
    return getattr(__import__(module, fromlist=[attribute]), attribute)


@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint", "interpolated_adjoint"])
def test_a_whole_model_round_trips_through_torch_save(tmp_path, sensitivity):
    model = AugmentedNeuralODE(MLPVectorField(3), sensitivity=sensitivity, augment_dims=1)
    expected = model(X, T)[1]
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert type(loaded) is AugmentedNeuralODE and loaded.nfe == model.nfe
    assert torch.equal(loaded(X, T)[1], expected)
    loaded(X, T)[1][-1].sum().backward()
    assert (loaded.nfe.backward > 0) == (sensitivity != "autograd")
    # weights_only=True needs every class in the file allowed, as the docs show.
    names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    assert "anode_plugin._model.AugmentedNeuralODE" in names
    with torch.serialization.safe_globals([_resolve(name) for name in names]):
        safe = torch.load(path, weights_only=True)
    assert torch.equal(safe(X, T)[1], expected)


def test_state_dict_is_the_portable_way():
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    other = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    other.load_state_dict(model.state_dict())
    assert torch.equal(other(X, T)[1], model(X, T)[1])
