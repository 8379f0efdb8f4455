"""The paper's vector fields: layer sizes, time dependence, shapes and argument errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchdyn.core import NeuralODE

from anode_plugin import ACTIVATIONS, ConvVectorField, MLPVectorField, StateShapeError

pytestmark = pytest.mark.numerics


@pytest.mark.parametrize("time_dependent", [True, False])
def test_mlp_layers(time_dependent):
    field = MLPVectorField(5, 7, time_dependent=time_dependent)
    linears = [m for m in field.modules() if isinstance(m, nn.Linear)]
    sizes = [(m.in_features, m.out_features) for m in linears]
    assert sizes == [(5 + int(time_dependent), 7), (7, 7), (7, 5)]
    assert field(torch.tensor(0.5), torch.randn(3, 5)).shape == (3, 5)


@pytest.mark.parametrize("time_dependent", [True, False])
def test_conv_layers(time_dependent):
    field = ConvVectorField(4, 6, time_dependent=time_dependent)
    convs = [m for m in field.modules() if isinstance(m, nn.Conv2d)]
    extra = int(time_dependent)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (4 + extra, 6, (1, 1)),
        (6 + extra, 6, (3, 3)),
        (6 + extra, 4, (1, 1)),
    ]
    # No downsampling: the spatial size is kept.
    assert field(torch.tensor(0.0), torch.randn(2, 4, 5, 3)).shape == (2, 4, 5, 3)


@pytest.mark.parametrize(
    "make",
    [
        lambda td: MLPVectorField(3, 8, time_dependent=td),
        lambda td: ConvVectorField(3, 4, time_dependent=td),
    ],
)
def test_time_dependence(make):
    torch.manual_seed(0)
    x = torch.randn(2, 3) if isinstance(make(True), MLPVectorField) else torch.randn(2, 3, 4, 4)
    dependent, independent = make(True), make(False)
    assert not torch.allclose(dependent(torch.tensor(0.0), x), dependent(torch.tensor(1.0), x))
    assert torch.equal(independent(torch.tensor(0.0), x), independent(torch.tensor(1.0), x))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activations(activation):
    field = MLPVectorField(2, 4, activation=activation)
    assert isinstance(field.activation, ACTIVATIONS[activation])


def test_fields_run_in_a_plain_torchdyn_neural_ode():
    # They accept (and ignore) torchdyn's `args` keyword.
    _, sol = NeuralODE(MLPVectorField(2, 8))(torch.randn(4, 2))
    assert sol.shape == (2, 4, 2)
    _, sol = NeuralODE(ConvVectorField(2, 4))(torch.randn(1, 2, 3, 3))
    assert sol.shape == (2, 1, 2, 3, 3)


def test_float64():
    field = MLPVectorField(3).double()
    assert field(torch.tensor(0.3, dtype=torch.float64), torch.randn(2, 3).double()).dtype == (
        torch.float64
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MLPVectorField(0), r"`dim` must be a positive integer, got 0"),
        (lambda: MLPVectorField(2, 2.5), r"`hidden_dim` must be a positive integer, got 2\.5"),
        (lambda: MLPVectorField(2, activation="swish"), r"`activation` must be one of \[.*'relu'"),
        (lambda: ConvVectorField(-1, 4), r"`channels` must be a positive integer, got -1"),
        (lambda: ConvVectorField(2, 0), r"`num_filters` must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_state_size():
    with pytest.raises(StateShapeError, match=r"MLPVectorField\(dim=3\) takes states of shape"):
        MLPVectorField(3)(torch.tensor(0.0), torch.randn(2, 2))
    with pytest.raises(StateShapeError, match=r"ConvVectorField\(channels=3\)"):
        ConvVectorField(3, 4)(torch.tensor(0.0), torch.randn(2, 2, 4, 4))
