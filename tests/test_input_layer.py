"""``InputLayer`` and ``InputLayerAugmenter``: the augmented entries ``phi(x)`` learned
(IL-NODE, Massaroli et al., 2020)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anode_plugin import (
    AugmentedNeuralODE,
    InputLayer,
    InputLayerAugmenter,
    MLPVectorField,
    StateShapeError,
)

pytestmark = pytest.mark.numerics

D, P = 2, 1


def _input_layer_model() -> AugmentedNeuralODE:
    torch.manual_seed(0)
    field = MLPVectorField(D + P, 16, activation="tanh")
    return AugmentedNeuralODE(field, augment_dims=P, augmentation="input_layer")


def test_input_layer_is_lazy_or_eager():
    lazy = InputLayer(3)
    assert lazy.has_uninitialized_params()
    x = torch.randn(4, 2)
    assert lazy(x).shape == (4, 3)
    eager = InputLayer(3, 2)
    assert not eager.has_uninitialized_params()
    assert eager.weight.shape == (3, 2)
    reference = nn.Linear(2, 3)
    reference.load_state_dict(eager.state_dict())
    torch.testing.assert_close(eager(x), reference(x))


def test_input_layer_accepts_any_module_and_strips_back():
    module = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    model = AugmentedNeuralODE(MLPVectorField(5), augment_dims=3, augmentation=module)
    assert model.augmentation == "input_layer"
    assert model.augmenter.augment_func is module
    x = torch.randn(4, 2)
    z = model.augmenter(x)
    torch.testing.assert_close(z[:, 2:], module(x))
    assert torch.equal(InputLayerAugmenter(1, 3, module).strip(z), x)
    first = InputLayerAugmenter(1, 3, module, placement="first")
    assert torch.equal(first.strip(first(x)), x)


def test_a_lazy_input_layer_reloads_from_a_state_dict():
    model = _input_layer_model()
    x = torch.randn(3, D)
    expected = model.features(x)
    fresh = _input_layer_model()
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh.features(x), expected)


def test_an_input_layer_built_for_another_size_says_so():
    # It failed with torch's "mat1 and mat2 shapes cannot be multiplied".
    layer = InputLayer(1, in_features=5)
    with pytest.raises(StateShapeError, match=r"InputLayer\(in_features=5\) maps inputs with 5"):
        layer(torch.randn(4, 2))
    assert layer(torch.randn(4, 5)).shape == (4, 1)


def test_input_layer_messages_are_whole():
    with pytest.raises(ValueError) as info:
        AugmentedNeuralODE(MLPVectorField(2), augment_dims=0, augmentation="input_layer")
    assert str(info.value) == (
        "augmentation='input_layer' learns the `augment_dims` augmented entries; it needs "
        "augment_dims >= 1, got 0."
    )
    with pytest.raises(ValueError, match=r"^`out_features` must be"):
        InputLayer(-1)
    with pytest.raises(ValueError, match=r"^`in_features` must be"):
        InputLayer(2, in_features=0)
    with pytest.raises(ValueError, match=r"^`augment_dims` must be"):
        InputLayerAugmenter(augment_dims=0)
    with pytest.raises(TypeError) as info:
        InputLayerAugmenter(layer=3)
    assert str(info.value) == "`layer` must be an nn.Module or None, got int."
    layer = InputLayer(2, in_features=3)
    with pytest.raises(StateShapeError) as info:
        layer(torch.zeros(4, 5))
    assert str(info.value) == (
        "InputLayer(in_features=3) maps inputs with 3 entries along dimension 1, got shape "
        "(4, 5); build it with in_features=5, or leave in_features=None to read it from the "
        "first input."
    )


def test_input_layer_draws_its_weights_as_nn_linear_does():
    torch.manual_seed(0)
    layer = InputLayer(2000, in_features=4)
    # nn.Linear: weights and biases uniform on [-1/sqrt(in), 1/sqrt(in)] = [-0.5, 0.5].
    for values in (layer.weight, layer.bias):
        assert float(values.abs().max()) <= 0.5
        assert float(values.min()) < -0.49 and float(values.max()) > 0.49
    assert layer.in_features == 4 and layer.weight.shape == (2000, 4)
    lazy = InputLayer(3)
    assert lazy.in_features is None and lazy.has_uninitialized_params()
    lazy.reset_parameters()  # a no-op before the first input
    assert lazy.has_uninitialized_params()
