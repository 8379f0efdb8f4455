"""The paper's vector fields: layer sizes, time dependence, shapes and argument errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchdyn.core import NeuralODE

from anode_plugin import (
    ACTIVATIONS,
    AugmentedNeuralODE,
    ConvVectorField,
    MLPVectorField,
    StateShapeError,
)

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


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPVectorField(3, 8),
        lambda: ConvVectorField(3, 4),  # 1x1 and 3x3 convolutions
    ],
)
def test_a_time_per_sample_is_each_sample_at_its_time(make):
    # Per-sample solvers (torchode) give each sample its own time, [batch].
    torch.manual_seed(0)
    field = make()
    x = torch.randn(4, 3) if isinstance(field, MLPVectorField) else torch.randn(4, 3, 5, 5)
    t = torch.tensor([0.0, 0.3, -1.2, 2.0])
    each = torch.cat([field(t[i], x[i : i + 1]) for i in range(4)])
    # Measured: 0 (MLP) and 1.2e-7 (conv; 6.0e-8 under ATEN_CPU_CAPABILITY=default).
    torch.testing.assert_close(field(t, x), each, rtol=0, atol=1e-6)
    assert not torch.allclose(field(t, x), field(t[0], x))  # the times differ, so do the rates


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


@pytest.mark.parametrize("make", [MLPVectorField, ConvVectorField])
@pytest.mark.parametrize("value", ["no", 0, None])
def test_time_dependent_must_be_a_bool(make, value):
    # "no" used to read as true: a time-dependent field, silently.
    with pytest.raises(TypeError, match=r"`time_dependent` must be True or False, got"):
        make(3, 4, time_dependent=value)


def test_wrong_state_size():
    with pytest.raises(StateShapeError, match=r"MLPVectorField\(dim=3\) takes states of shape"):
        MLPVectorField(3)(torch.tensor(0.0), torch.randn(2, 2))
    with pytest.raises(StateShapeError, match=r"ConvVectorField\(channels=3\)"):
        ConvVectorField(3, 4)(torch.tensor(0.0), torch.randn(2, 2, 4, 4))


# ---------------------------------------------------------------- the concatenating oracle
class _OracleTimeConv2d(nn.Conv2d):
    """The field's convolutions as first written: ``t`` concatenated as channel 0."""

    def forward(self, t, x):
        b, _, h, w = x.shape
        time = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(1, 1, 1, 1)
        return super().forward(torch.cat([time.expand(b, 1, h, w), x], dim=1))


class _OracleConvField(nn.Module):
    """``ConvVectorField`` before the time channel was folded into the convolutions."""

    def __init__(self, channels, num_filters, *, time_dependent=True, activation="relu"):
        super().__init__()
        self.time_dependent = time_dependent
        conv = _OracleTimeConv2d if time_dependent else nn.Conv2d
        extra = int(time_dependent)
        self.conv1 = conv(channels + extra, num_filters, kernel_size=1)
        self.conv2 = conv(num_filters + extra, num_filters, kernel_size=3, padding=1)
        self.conv3 = conv(num_filters + extra, channels, kernel_size=1)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, t, x):
        if self.time_dependent:
            h = self.activation(self.conv1(t, x))
            h = self.activation(self.conv2(t, h))
            return self.conv3(t, h)
        h = self.activation(self.conv1(x))
        h = self.activation(self.conv2(h))
        return self.conv3(h)


def _field_and_oracle(channels, filters, *, time_dependent=True, activation="relu", seed=0):
    torch.manual_seed(seed)
    field = ConvVectorField(channels, filters, time_dependent=time_dependent, activation=activation)
    oracle = _OracleConvField(
        channels, filters, time_dependent=time_dependent, activation=activation
    )
    oracle.load_state_dict(field.state_dict())  # same keys and shapes, or this raises
    return field, oracle


def _assert_close_in_norm(actual, expected, rtol=1e-5):
    """Gradients summed over many terms: compare their errors with their size."""
    error = float((actual - expected).detach().norm())
    size = float(expected.detach().norm())
    assert error <= rtol * size + 1e-6, (error, size)


def _outputs_and_gradients(field, t, x):
    """Output, first derivatives (to t, x, parameters) and a second derivative."""
    t = t.clone().requires_grad_(True)
    x = x.clone().requires_grad_(True)
    params = list(field.parameters())
    out = field(t, x)
    cotangent = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    grads = torch.autograd.grad(
        out, [t, x, *params], cotangent, create_graph=True, allow_unused=True
    )
    # What a Jacobian regulariser differentiates: a function of the first derivatives.
    # The last bias has no second derivative: it counts as zero on both sides.
    second = torch.autograd.grad(
        sum(g.pow(2).sum() for g in grads[1:]), params, allow_unused=True, materialize_grads=True
    )
    return out, grads, second


@pytest.mark.parametrize("time_dependent", [True, False])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_conv_field_equals_the_concatenating_oracle(activation, time_dependent):
    field, oracle = _field_and_oracle(3, 8, time_dependent=time_dependent, activation=activation)
    x, t = torch.randn(4, 3, 6, 5), torch.tensor(0.7)
    x_before = x.clone()
    out, grads, second = _outputs_and_gradients(field, t, x)
    ref_out, ref_grads, ref_second = _outputs_and_gradients(oracle, t, x)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-6)
    for g, ref in zip([*grads, *second], [*ref_grads, *ref_second], strict=True):
        if ref is None:  # no time dependence: t gets no gradient from either
            assert g is None
            continue
        _assert_close_in_norm(g, ref)
    assert torch.equal(x, x_before)  # in-place activations never touch the state
    assert out.is_contiguous()  # the layout used inside does not leak out


@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 4),
    filters=st.integers(1, 9),
    height=st.integers(1, 7),
    width=st.integers(1, 7),
    t=st.floats(-3.0, 3.0, allow_nan=False),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=30, deadline=None)
def test_conv_field_equals_the_oracle_for_any_shape_and_time(
    batch, channels, filters, height, width, t, seed
):
    field, oracle = _field_and_oracle(channels, filters, seed=seed)
    x = torch.randn(batch, channels, height, width, generator=torch.Generator().manual_seed(seed))
    out, grads, _ = _outputs_and_gradients(field, torch.tensor(t), x)
    ref_out, ref_grads, _ = _outputs_and_gradients(oracle, torch.tensor(t), x)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-6)
    for g, ref in zip(grads, ref_grads, strict=True):
        _assert_close_in_norm(g, ref)


def test_conv_field_loads_the_concatenating_fields_checkpoints():
    torch.manual_seed(1)
    oracle = _OracleConvField(5, 7)
    field = ConvVectorField(5, 7)
    assert list(field.state_dict()) == list(oracle.state_dict())
    field.load_state_dict(oracle.state_dict())
    x = torch.randn(2, 5, 4, 4)
    torch.testing.assert_close(field(0.3, x), oracle(0.3, x), rtol=0, atol=5e-7)  # measured 6e-8


@pytest.mark.parametrize(
    ("backend", "options"), [("torchdyn", None), ("torchdiffeq", {"step_size": 0.25})]
)
def test_conv_field_adjoint_gradients_match_the_oracle(backend, options):
    # Fixed steps, so that both solves take the same steps and only the fields differ.
    field, oracle = _field_and_oracle(1 + 2, 6, activation="tanh")
    x = torch.randn(3, 1, 5, 5)
    grads = []
    for f in (field, oracle):
        model = AugmentedNeuralODE(
            f,
            augment_dims=2,
            backend=backend,
            solver="rk4",
            sensitivity="adjoint",
            solver_options=options,
        )
        model.features(x).pow(2).sum().backward()
        grads.append([p.grad for p in f.parameters()])
    assert all(g is not None and g.abs().sum() > 0 for g in grads[0])
    for g, ref in zip(*grads, strict=True):
        _assert_close_in_norm(g, ref)
