"""The package's exceptions: hierarchy, export, and the messages users see."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from helpers import BACKEND_SENSITIVITIES, LinearField

import anode_plugin
import anode_plugin.experiments
import anode_plugin.testing
from anode_plugin import (
    AugmentedNeuralODE,
    MLPVectorField,
    NFEBudgetExceeded,
    NonFiniteStateError,
    SolverError,
    StateShapeError,
    StepSizeUnderflowError,
)


@pytest.mark.parametrize(
    ("error", "base"),
    [
        (NFEBudgetExceeded, RuntimeError),
        (NonFiniteStateError, RuntimeError),
        (StepSizeUnderflowError, RuntimeError),
        (SolverError, RuntimeError),
        (StateShapeError, ValueError),
    ],
)
def test_errors_subclass_builtins_and_are_exported(error, base):
    assert issubclass(error, base)
    assert error.__name__ in anode_plugin.__all__


def test_budget_error_message_and_pickle():
    error = NFEBudgetExceeded(1201, 1000)
    assert "1201 forward evaluations" in str(error)
    assert "max_nfe=1000" in str(error)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.nfe, clone.budget, str(clone)) == (1201, 1000, str(error))


def test_budget_error_is_caught_as_runtime_error():
    model = AugmentedNeuralODE(
        LinearField(-1000.0), augment_dims=0, atol=1e-8, rtol=1e-8, max_nfe=20
    )
    with pytest.raises(RuntimeError, match=r"after 21 forward evaluations.*max_nfe=20"):
        model.features(torch.ones(1, 1))


def test_field_returning_the_wrong_shape():
    model = AugmentedNeuralODE(lambda x: x[:, :1], augment_dims=1)
    with pytest.raises(StateShapeError, match=r"returned shape \(3, 1\) for a state of shape"):
        model(torch.randn(3, 1))


def test_field_without_state_argument():
    with pytest.raises(TypeError, match=r"takes no state argument"):
        AugmentedNeuralODE(lambda: 0, augment_dims=0)


def test_non_callable_field():
    with pytest.raises(TypeError, match=r"`vector_field` must be a module or callable, got int"):
        AugmentedNeuralODE(3, augment_dims=0)


def test_state_size_mismatch_names_augment_dims():
    model = AugmentedNeuralODE(MLPVectorField(2), augment_dims=3)
    with pytest.raises(StateShapeError, match=r"augment_dims"):
        model(torch.randn(4, 2))


def test_a_save_at_outside_t_span_is_refused_rather_than_ignored():
    # torchdyn ignores `save_at` with adaptive solvers; here it selects times of `t_span`.
    model = AugmentedNeuralODE(MLPVectorField(3, 8), augment_dims=1)
    with pytest.raises(ValueError, match="Each time of `save_at` must be one of `t_span`'s"):
        model(torch.randn(2, 2), save_at=(0.5,))


# ------------------------------------------------- inputs that were accepted, then broke
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("which", ["forward", "adjoint"])
def test_tolerances_below_the_dtype_are_refused_at_once(dtype, which):
    # float32 with 1e-14 ran for minutes at ~5k NFE/s; the adjoint's hung in backward().
    tiny = 1e-20 if dtype == torch.float64 else 1e-14
    tolerances = (
        {"atol": tiny, "rtol": tiny}
        if which == "forward"
        else {"atol_adjoint": tiny, "rtol_adjoint": tiny, "sensitivity": "adjoint"}
    )
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, max_nfe=200, **tolerances).to(
        dtype
    )
    name = "atol" if which == "forward" else "atol_adjoint"
    with pytest.raises(ValueError, match=rf"`{name}`=1e-\d+ and .* ask for more accuracy than"):
        model(torch.randn(4, 2, dtype=dtype))
    assert model.nfe.total == 0


def test_tolerances_the_dtype_resolves_are_accepted():
    model = AugmentedNeuralODE(LinearField(-1.0), augment_dims=0, atol=1e-9, rtol=1e-9)
    assert model.features(torch.ones(2, 1)).dtype == torch.float32


@pytest.mark.parametrize(
    ("dtype", "match"),
    [
        (torch.float16, r"`x` has dtype torch\.float16; the solvers need float32 or float64"),
        (torch.bfloat16, r"`x` has dtype torch\.bfloat16; the solvers need float32 or float64"),
    ],
)
def test_half_precision_is_refused_up_front_with_the_fix(dtype, match):
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1).to(dtype)
    with pytest.raises(TypeError, match=match):
        model(torch.randn(4, 2, dtype=dtype))
    with pytest.raises(TypeError, match=r"`x.float\(\)` and `model.float\(\)`"):
        model(torch.randn(4, 2, dtype=dtype))


def test_a_field_returning_a_tuple_gets_a_clear_error():
    model = AugmentedNeuralODE(lambda t, x: (-x, x.sum()), augment_dims=1)
    with pytest.raises(
        TypeError, match=r"The vector field .* returned a tuple; it must return one tensor dx/dt"
    ):
        model(torch.randn(4, 2))


def test_a_field_of_four_arguments_is_refused_when_built():
    with pytest.raises(
        TypeError, match=r"Vector field .* takes 4 required arguments \(t, x, args, extra\)"
    ):
        AugmentedNeuralODE(lambda t, x, args, extra: -x, augment_dims=1)


def test_nan_weights_are_named_instead_of_a_nan_time():
    torch.manual_seed(0)
    field = MLPVectorField(3)
    with torch.no_grad():
        field.fc2.weight[0, 0] = float("nan")
    model = AugmentedNeuralODE(field, augment_dims=1)
    with pytest.raises(
        NonFiniteStateError,
        match=r"The vector field's parameters contain NaN or infinite values \(.*fc2\.weight",
    ) as e:
        model(torch.randn(4, 2))
    assert "t=nan" not in str(e.value)


@pytest.mark.parametrize(("backend", "sensitivity"), BACKEND_SENSITIVITIES)
def test_a_parameter_free_field_takes_float64(backend, sensitivity):
    # Its placeholder parameter used to be float32: "the model's parameters are float32".
    model = AugmentedNeuralODE(
        LinearField(-1.0), augment_dims=1, backend=backend, sensitivity=sensitivity
    )
    x = torch.ones(3, 2, dtype=torch.float64, requires_grad=True)
    features = model.features(x)
    features.sum().backward()
    assert features.dtype == x.grad.dtype == torch.float64
    # Measured: 1.8e-4 (both CPU capabilities, benchmarks/tolerance_audit.py).
    torch.testing.assert_close(x.grad, torch.full_like(x, math.exp(-1)), rtol=0, atol=1.5e-3)


@pytest.mark.parametrize(
    "check",
    ["assert_invertible", "assert_non_crossing", "assert_nfe_consistent", "assert_flow_properties"],
)
def test_the_testing_checks_say_which_models_they_take(check):
    resnet = anode_plugin.experiments.ResNet(2, 8, num_blocks=2)
    with pytest.raises(
        TypeError, match=rf"`{check}` takes an anode_plugin.AugmentedNeuralODE.*got ResNet"
    ):
        getattr(anode_plugin.testing, check)(resnet, torch.randn(4, 2))
    with pytest.raises(
        TypeError, match=r"`assert_invertible` takes an anode_plugin\.AugmentedNeuralODE"
    ):
        anode_plugin.testing.assert_invertible(resnet, torch.randn(4, 2))


def test_an_input_of_another_dtype_than_the_model_is_refused():
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    with pytest.raises(
        TypeError,
        match=r"`x` has dtype torch\.float64 but the model's parameters are torch\.float32",
    ):
        model(torch.randn(4, 2, dtype=torch.float64))


def test_the_model_documents_its_own_arguments():
    doc = AugmentedNeuralODE.__init__.__doc__
    for argument in ("vector_field", "augment_dims", "max_nfe", "seminorm", "regularisers"):
        assert f"{argument}:" in doc, argument
    # Ours, not the docstring of torchdyn's NeuralODE.__init__ (which it overrides).
    assert doc.startswith("Build the model") and "Generic Neural Ordinary" not in doc


# ------------------------------------------- the rest of the troubleshooting page's errors
def test_solver_options_need_torchdiffeq():
    with pytest.raises(ValueError, match=r"`solver_options` are passed to torchdiffeq"):
        AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, solver_options={"step_size": 0.1})


def test_inputs_the_solve_cannot_take():
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    with pytest.raises(ValueError, match=r"`x` is on meta but the model is on cpu"):
        model(torch.randn(4, 2, device="meta"))
    with pytest.raises(ValueError, match=r"`x` contains NaN or infinite values"):
        model(torch.tensor([[0.0, float("nan")]]))
    images = AugmentedNeuralODE(
        anode_plugin.ConvVectorField(2, 4), augment_dims=1, sensitivity="interpolated_adjoint"
    )
    with pytest.raises(
        ValueError, match=r"sensitivity='interpolated_adjoint' supports vector states"
    ):
        images(torch.randn(2, 1, 3, 3))


def test_a_state_that_blows_up_over_a_long_horizon_names_the_horizon():
    # It blamed the learning rate and the weights: "(the solver's time became NaN)".
    torch.manual_seed(0)
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, t_span=(0, 1e6))
    with pytest.raises(NonFiniteStateError, match=r"from t=0 to t=1e\+06 .* The horizon is the"):
        model(torch.randn(4, 2))
