"""The augmentation kinds: zeros, a learned input layer and second order, on every solve."""

from __future__ import annotations

import math
import os
import sys
import warnings

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
import yaml
from helpers import BACKEND_SENSITIVITIES
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import nn

import anode_plugin
from anode_plugin import (
    AUGMENTATIONS,
    BACKENDS,
    AugmentedNeuralODE,
    Augmenter,
    ConvVectorField,
    InputLayerAugmenter,
    MLPVectorField,
    NFEBudgetExceeded,
    SecondOrderAugmenter,
    SecondOrderField,
    StateShapeError,
)
from anode_plugin.datasets import G1dDataModule
from anode_plugin.lightning import ANODEModule
from anode_plugin.lightning._cli import main
from anode_plugin.testing import (
    assert_augmentation_roundtrip,
    assert_flow_properties,
    assert_invertible,
    assert_nfe_consistent,
    assert_non_crossing,
    augmented_neural_odes,
    model_inputs,
)

pytestmark = pytest.mark.numerics

D, P = 2, 1
# Each kind with a field of the size it integrates; 'second_order_learned' learns v(0).
KINDS = ("zeros", "input_layer", "second_order", "second_order_learned")


def _model(kind: str, *, d: int = D, p: int = P, hidden: int = 16, **options):
    torch.manual_seed(0)
    if kind.startswith("second_order"):
        field = MLPVectorField(2 * (d + p), hidden, activation="tanh", out_dim=d + p)
        if kind == "second_order_learned":
            options["initial_velocity"] = "learned"
        kind = "second_order"
    else:
        field = MLPVectorField(d + p, hidden, activation="tanh")
    return AugmentedNeuralODE(field, augment_dims=p, augmentation=kind, **options)


def _state_size(kind: str, d: int = D, p: int = P) -> int:
    return 2 * (d + p) if kind.startswith("second_order") else d + p


def test_each_listed_kind_builds_and_no_other_name_does():
    # It compared the constant with a copy of itself.
    for kind in AUGMENTATIONS:
        size = 2 * (D + P) if kind == "second_order" else D + P
        out = {"out_dim": D + P} if kind == "second_order" else {}
        model = AugmentedNeuralODE(MLPVectorField(size, **out), augment_dims=P, augmentation=kind)
        assert model.augmentation == kind
        assert model.features(torch.zeros(3, D)).shape == (3, size)
    with pytest.raises(ValueError, match=r"`augmentation` must be one of \['zeros', 'input_layer'"):
        AugmentedNeuralODE(MLPVectorField(D + P), augment_dims=P, augmentation="ones")


# ---------------------------------------------------------------------------- every solve
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("backend", "sensitivity"), BACKEND_SENSITIVITIES)
def test_every_kind_on_every_backend_and_sensitivity(kind, backend, sensitivity):
    model = _model(kind, backend=backend, sensitivity=sensitivity)
    x = torch.randn(6, D)
    _, sol = model(x)
    assert sol.shape == (2, 6, _state_size(kind))
    assert model.features(x).shape == (6, _state_size(kind))
    # The initial state is the augmentation of x, and x comes back out of it.
    torch.testing.assert_close(sol[0], model.augmenter(x))
    assert torch.equal(model.augmenter.strip(sol[0]), x)
    model.reset_nfe()
    model.features(x).square().sum().backward()
    nfe = model.nfe
    assert nfe.forward > 0
    assert (nfe.backward > 0) == (sensitivity != "autograd")
    assert model.steps.forward_accepted > 0
    assert (model.steps.backward_accepted > 0) == (sensitivity != "autograd")
    # Every parameter gets a gradient: the field's and the learned augmentation's.
    for name, parameter in model.named_parameters():
        if "dummy" not in name:
            assert parameter.grad is not None, name
    assert_nfe_consistent(model, x)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_property_checks_hold_for_every_kind(kind, backend):
    model = _model(kind, backend=backend, atol=1e-8, rtol=1e-8).double()
    x = torch.randn(8, D, dtype=torch.float64)
    assert_augmentation_roundtrip(model.augmenter, x)
    assert_invertible(model, x, atol=1e-5)
    assert_non_crossing(model, x)


# ---------------------------------------------------------------------------- images
def test_second_order_and_input_layer_on_images():
    x = torch.randn(2, 1, 4, 4)
    model = AugmentedNeuralODE(
        ConvVectorField(2 * (1 + 2), 4, out_channels=3), augment_dims=2, augmentation="second_order"
    )
    assert model.features(x).shape == (2, 6, 4, 4)
    assert model.augmenter.strip(model.features(x)).shape == x.shape
    model = AugmentedNeuralODE(ConvVectorField(3, 4), augment_dims=2, augmentation="input_layer")
    z = model.augmenter(x)
    assert z.shape == (2, 3, 4, 4)
    # The image input layer is a 1x1 convolution with the layer's weights.
    layer = model.augmenter.augment_func
    conv = F.conv2d(x, layer.weight.view(2, 1, 1, 1), layer.bias)
    torch.testing.assert_close(z[:, 1:], conv)
    assert model.features(x).shape == (2, 3, 4, 4)


# ---------------------------------------------------------------------------- the old name
def test_zeros_is_the_default_and_placement_replaces_order():
    field = MLPVectorField(3)
    x = torch.randn(4, 2)
    default = AugmentedNeuralODE(field, augment_dims=1)
    assert default.augmentation == "zeros" and type(default.augmenter) is Augmenter
    assert default.augmenter.order == "last"
    first = AugmentedNeuralODE(field, augment_dims=1, placement="first")
    with pytest.warns(DeprecationWarning, match="`order` is deprecated; use `placement`"):
        old = AugmentedNeuralODE(field, augment_dims=1, order="first")
    assert first.augmenter.order == old.augmenter.order == "first"
    torch.testing.assert_close(first.features(x), old.features(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AugmentedNeuralODE(field, augment_dims=1, placement="last")  # the new name does not warn


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"augmentation": "ones"}, ValueError, r"`augmentation` must be one of \['zeros'"),
        ({"augmentation": 3}, ValueError, "`augmentation` must be one of"),
        ({"placement": "middle"}, ValueError, r"`placement` must be one of \['last', 'first'\]"),
        (
            {"placement": "last", "order": "first"},
            ValueError,
            "Pass `placement` only: `order` is its deprecated name",
        ),
        (
            {"augmentation": "zeros", "initial_velocity": "learned"},
            ValueError,
            "`initial_velocity` applies to augmentation='second_order' only",
        ),
        (
            {"augmentation": "second_order", "initial_velocity": "random"},
            ValueError,
            r"`initial_velocity` must be one of \['zeros', 'learned'\], got 'random'",
        ),
        ({"augment_dims": -1}, ValueError, "`augment_dims` must be a non-negative integer"),
    ],
)
def test_bad_arguments_name_the_argument(options, error, match):
    options = {"augment_dims": 1, **options}
    with pytest.raises(error, match=match):
        AugmentedNeuralODE(MLPVectorField(3), **options)


def test_a_deprecated_order_with_a_bad_value_names_order():
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match=r"`order` must be one of \['last', 'first'\]"),
    ):
        AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, order="middle")


def test_input_layer_needs_augmented_dimensions():
    with pytest.raises(
        ValueError, match="augmentation='input_layer' learns the `augment_dims` augmented entries"
    ):
        AugmentedNeuralODE(MLPVectorField(2), augment_dims=0, augmentation="input_layer")


def test_shape_errors_explain_each_kind():
    x = torch.randn(4, 2)
    # A first-order-sized field in a second-order model.
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, augmentation="second_order")
    with pytest.raises(
        StateShapeError, match=r"With augmentation='second_order' the vector field sees \[x, v\]"
    ):
        model(x)
    # A field that takes [x, v] but returns the whole derivative.
    model = AugmentedNeuralODE(MLPVectorField(6), augment_dims=1, augmentation="second_order")
    with pytest.raises(StateShapeError, match=r"returns the acceleration, 3 .*out_dim=3"):
        model(x)
    model = AugmentedNeuralODE(MLPVectorField(4), augment_dims=2, augmentation=nn.Linear(2, 3))
    with pytest.raises(StateShapeError, match="The input layer Linear returned 3 entries"):
        model(x)
    model = AugmentedNeuralODE(
        MLPVectorField(6, out_dim=3),
        augment_dims=1,
        augmentation="second_order",
        initial_velocity=nn.Linear(2, 2),
    )
    with pytest.raises(StateShapeError, match=r"`initial_velocity` Linear returned shape \(4, 2\)"):
        model(x)


# ---------------------------------------------------------------------------- Lightning, CLI
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("readout", [True, False])
def test_lightning_trains_every_kind(kind, readout, tmp_path):
    ode = _model(kind, d=1, p=1, hidden=8, backend="torchdiffeq", sensitivity="adjoint")
    module = ANODEModule(ode, task="regression", readout=readout, loss="mse", lr=1e-2)
    trainer = pl.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    before = [p.detach().clone() for p in ode.vector_field.parameters()]
    trainer.fit(module, datamodule=G1dDataModule(num_points=16, batch_size=8))
    x = torch.linspace(-1, 1, 5).unsqueeze(1)
    assert module(x).shape == (5, 1)
    after = list(ode.vector_field.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    # A lazy input layer (or initial velocity) was built before training, and trained.
    learned = {"input_layer": "augment_func", "second_order_learned": "velocity"}.get(kind)
    if learned is not None:
        layer = getattr(ode.augmenter, learned)
        assert not layer.has_uninitialized_params()
        assert trainer.optimizers[0].state[layer.weight]  # Adam stepped it


@pytest.mark.parametrize(
    ("augmentation", "field", "extra"),
    [
        ("second_order", {"dim": 4, "out_dim": 2}, {"initial_velocity": "learned"}),
        ("input_layer", {"dim": 2}, {}),
    ],
)
def test_the_cli_takes_the_augmentation_from_a_config(
    augmentation, field, extra, tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "argv", ["anode"])
    config = {
        "seed_everything": 0,
        "model": {
            "ode": {
                "class_path": "anode_plugin.AugmentedNeuralODE",
                "init_args": {
                    "augment_dims": 1,
                    "augmentation": augmentation,
                    "placement": "last",
                    "vector_field": {
                        "class_path": "anode_plugin.MLPVectorField",
                        "init_args": {"hidden_dim": 8, **field},
                    },
                    **extra,
                },
            },
            "task": "regression",
            "num_outputs": 1,
            "readout": False,
            "loss": "mse",
        },
        "data": {
            "class_path": "anode_plugin.datasets.G1dDataModule",
            "init_args": {"num_points": 16, "batch_size": 8},
        },
        "trainer": {
            "max_epochs": 1,
            "default_root_dir": str(tmp_path / "run"),
            "enable_progress_bar": False,
            "enable_model_summary": False,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(path)])
    checkpoints = list((tmp_path / "run").rglob("last.ckpt"))
    assert checkpoints
    model = ANODEModule.load_from_checkpoint(checkpoints[0])
    assert model.ode.augmentation == augmentation
    assert model(torch.zeros(3, 1)).shape == (3, 1)


# ---------------------------------------------------------------------------- strategies
@settings(max_examples=6, deadline=None)
@given(
    st.data(),
    augmented_neural_odes(
        max_input_dim=2, max_augment_dims=2, atol=1e-7, rtol=1e-7, augmentations=AUGMENTATIONS
    ),
)
def test_drawn_models_of_every_kind_pass_the_flow_checks(data, model):
    assert model.augmentation in AUGMENTATIONS
    x = data.draw(model_inputs(model, min_batch=2, max_batch=4, min_separation=0.1))
    assert_flow_properties(model, x, atol=1e-4)


def test_the_model_strategy_checks_its_kinds():
    with pytest.raises(InvalidArgument, match="`augmentations` must"):
        augmented_neural_odes(augmentations=["ones"])
    with pytest.raises(InvalidArgument, match="needs max_augment_dims >= 1"):
        augmented_neural_odes(augmentations=["input_layer"], max_augment_dims=0)


class _NoisyLayer(nn.Module):
    """An 'input layer' that is not a function of x: a fresh draw on every call."""

    def forward(self, x):
        return torch.randn(x.shape[0], 1, dtype=x.dtype)


def test_invertibility_is_checked_in_the_augmented_space():
    model = AugmentedNeuralODE(
        MLPVectorField(3), augment_dims=1, augmentation=_NoisyLayer(), atol=1e-8, rtol=1e-8
    ).double()
    x = torch.randn(4, 2, dtype=torch.float64)
    # x itself comes back; the augmented entries are not those augmenter(x) gives.
    with pytest.raises(AssertionError, match="not invertible in the augmented space"):
        assert_invertible(model, x)


@pytest.mark.parametrize("kind", KINDS)
def test_regularisers_and_budgets_apply_to_every_kind(kind):
    model = _model(kind, regularisers=("kinetic", "jacobian"), sensitivity="adjoint")
    x = torch.randn(4, D)
    model.features(x).sum().backward()
    assert set(model.regularisation) == {"kinetic", "jacobian"}
    assert all(value.shape == (4,) for value in model.regularisation.values())
    budgeted = _model(kind, max_nfe=3)
    with pytest.raises(NFEBudgetExceeded):
        budgeted.features(x)


# ---------------------------------------------------------------------------- exact details
# Each test below pins behaviour that a mutant of _augmentations.py changed unseen.
class _Oscillator(nn.Module):
    """``x'' = -x`` on ``[x, x']`` blocks of any size (torchdyn's order=2 convention)."""

    def forward(self, t, z):
        return -z[:, : z.shape[1] // 2]


class _Jerkless(nn.Module):
    """``x''' = 0`` on ``[x, x', x'']``: the solution is a quadratic in t."""

    def forward(self, t, z):
        return torch.zeros_like(z[:, : z.shape[1] // 3])


def test_a_higher_order_ode_solves_its_blocks():
    x0 = torch.tensor([[1.0, 0.5], [0.0, 2.0]], dtype=torch.float64)  # [x, x'] per sample
    model = AugmentedNeuralODE(_Oscillator(), order=2, augment_dims=0, atol=1e-10, rtol=1e-10)
    assert isinstance(model.vf.field, SecondOrderField) and model.vf.field.order == 2
    assert model.augmenter.augment_dims == 0 and model.augmenter.augment_idx == 1
    end = model.double().features(x0)
    c, s = math.cos(1.0), math.sin(1.0)
    expected = torch.stack([x0[:, 0] * c + x0[:, 1] * s, -x0[:, 0] * s + x0[:, 1] * c], 1)
    # Measured: 6.3e-9 (both CPU capabilities), at tolerance 1e-10.
    torch.testing.assert_close(end, expected, rtol=0, atol=6e-8)
    third = AugmentedNeuralODE(_Jerkless(), order=3, augment_dims=0).double()
    z0 = torch.tensor([[1.0, 2.0, 4.0]], dtype=torch.float64)  # x = 1 + 2t + 2t^2
    # Measured: 1.8e-15 (both CPU capabilities, benchmarks/tolerance_audit.py).
    torch.testing.assert_close(
        third.features(z0)[0, 0], torch.tensor(5.0).double(), rtol=0, atol=1.5e-14
    )
    # Images: the blocks are channels (augment_idx=1).
    image = AugmentedNeuralODE(_Oscillator(), order=2, augment_dims=0, atol=1e-8, rtol=1e-8)
    q = torch.rand(2, 1, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    end = image.double().features(torch.cat([q, torch.zeros_like(q)], 1))
    torch.testing.assert_close(end[:, :1], q * c, rtol=0, atol=4e-8)  # measured 4.2e-9


@pytest.mark.parametrize(
    ("options", "got"),
    [
        ({"augment_dims": 1}, "augment_dims=1, augmentation='zeros'"),
        ({"augment_dims": 1, "augmentation": "input_layer"}, "augment_dims=1, augmentation="
         "'input_layer'"),
    ],
)  # fmt: skip
def test_a_higher_order_ode_refuses_augmentation_with_the_whole_message(options, got):
    message = (
        "order=2 (torchdyn's higher-order system) takes the state as given, blocks [x, x', "
        f"...], with augment_dims=0 and augmentation='zeros'; got {got}. To augment a "
        "second-order model use augmentation='second_order' with order=1."
    )
    with pytest.raises(ValueError) as info:
        AugmentedNeuralODE(_Oscillator(), order=2, **options)
    assert str(info.value) == message


def test_augmenters_default_to_the_documented_sizes_and_dimensions():
    layer_augmenter = InputLayerAugmenter()
    assert (layer_augmenter.augment_idx, layer_augmenter.augment_dims) == (1, 1)
    second = SecondOrderAugmenter()
    assert (second.augment_idx, second.augment_dims) == (1, 0)
    assert "velocity='zeros'" in repr(second)
    assert "velocity='learned'" in repr(SecondOrderAugmenter(initial_velocity="learned"))
    assert SecondOrderField(_Oscillator()).augment_idx == 1


def test_image_augmenters_map_the_channels():
    images = torch.rand(2, 3, 4, 4)
    augmenter = InputLayerAugmenter(augment_idx=1, augment_dims=2)
    out = augmenter(images)
    assert out.shape == (2, 5, 4, 4) and torch.equal(out[:, :3], images)
    assert augmenter.augment_func.augment_idx == 1
    assert augmenter.augment_func.weight.shape == (2, 3)
    # A state no larger than the augmentation strips to nothing, not to a negative size.
    assert augmenter.strip(torch.zeros(2, 2, 4, 4)).shape == (2, 0, 4, 4)
    second = SecondOrderAugmenter(augment_idx=1, augment_dims=1, initial_velocity="learned")
    state = second(images)
    assert state.shape == (2, 8, 4, 4)  # [x, 0, v]: 3 + 1 + (3 + 1)
    assert second.velocity.augment_idx == 1
    assert torch.equal(second.strip(state), images)


def test_the_deprecated_placement_name_warns_at_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, order="first")
    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    package = os.path.dirname(os.path.abspath(anode_plugin.__file__))
    assert not os.path.abspath(warning.filename).startswith(package)
    # This line, unless mutmut's trampolines (outside the package) stand in between.
    assert warning.filename == __file__ or "MUTANT_UNDER_TEST" in os.environ
    assert str(warning.message) == (
        "`order` is deprecated; use `placement` (same values, 'last' or 'first'). `order` is "
        "now torchdyn's: the ODE's order, an integer (see also augmentation='second_order')."
    )


class _LastAxisAcceleration(nn.Module):
    """``x'' = -x`` along the last axis of ``[batch, h, 2 n]`` states (``[x, v]``)."""

    def forward(self, t, z):
        return -z[..., : z.shape[-1] // 2]


def test_augmenters_and_fields_follow_an_augment_idx_other_than_1():
    x = torch.randn(2, 3, 4)  # augment along dimension 2
    layer = InputLayerAugmenter(augment_idx=2, augment_dims=2)
    assert layer(x).shape == (2, 3, 6) and layer.augment_func.weight.shape == (2, 4)
    second = SecondOrderAugmenter(augment_idx=2, augment_dims=1, initial_velocity="learned")
    assert second(x).shape == (2, 3, 10) and second.velocity.weight.shape == (5, 4)
    model = AugmentedNeuralODE(
        _LastAxisAcceleration(), augment_idx=2, augment_dims=1, augmentation="second_order"
    )
    assert model.vf.field.augment_idx == 2
    assert model.features(x).shape == (2, 3, 10)


def test_the_model_passes_placement_and_order_to_its_augmentation():
    torch.manual_seed(0)
    first = AugmentedNeuralODE(
        MLPVectorField(3), augment_dims=1, augmentation="input_layer", placement="first"
    )
    x = torch.randn(4, 2)
    assert torch.equal(first.augmenter(x)[:, 1:], x)  # the learned entry comes first

    def wrong(t, z):
        return z  # the whole state, not the highest derivative

    with pytest.raises(StateShapeError, match=r"^With order=2 the vector field sees \[x, v\]"):
        AugmentedNeuralODE(wrong, order=2, augment_dims=0).features(torch.zeros(3, 4))
