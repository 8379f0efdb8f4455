"""``anode_plugin.testing``: strategies validate their arguments, checks pass and fail as they
should, and the pytest plugin's fixtures work in a user's test."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import torch
import torchdyn.nn
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import nn

import anode_plugin.testing as testing
from anode_plugin import (
    BACKENDS,
    SENSITIVITIES,
    AugmentedNeuralODE,
    Augmenter,
    ConvVectorField,
    MLPVectorField,
    NFERecord,
)
from anode_plugin.testing import (
    assert_augmentation_roundtrip,
    assert_flow_properties,
    assert_invertible,
    assert_nfe_consistent,
    assert_non_crossing,
)

pytest_plugins = ["pytester"]

F64 = torch.float64


def _good_model(dim: int = 2, augment_dims: int = 1, **kwargs) -> AugmentedNeuralODE:
    torch.manual_seed(0)
    field = MLPVectorField(dim + augment_dims, 16, activation="tanh")
    return AugmentedNeuralODE(
        field, augment_dims=augment_dims, atol=1e-9, rtol=1e-9, **kwargs
    ).double()


def _resnet_like(field=lambda x: -2.0 * x, augment_dims: int = 0) -> AugmentedNeuralODE:
    """One Euler step of size 1: x -> x + f(x), a residual block, not an ODE flow.

    With f(x) = -2x it maps x to -x, the paper's g_1d, which no ODE flow represents.
    """
    return AugmentedNeuralODE(field, augment_dims=augment_dims, solver="euler").double()


def _line(n: int = 5) -> torch.Tensor:
    return torch.linspace(-1, 1, n, dtype=F64)[:, None]


# ---------------------------------------------------------------------------- strategies
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: testing.vectors(min_batch=0), r"`min_batch` must be a positive integer, got 0"),
        (lambda: testing.vectors(max_dim=2.5), r"`max_dim` must be a positive integer, got 2\.5"),
        (
            lambda: testing.vectors(min_dim=3, max_dim=2),
            r"`min_dim`=3 must not exceed `max_dim`=2",
        ),
        (lambda: testing.vectors(dtype=torch.int64), r"`dtype` must be one of \[.*\], got"),
        (
            lambda: testing.vectors(min_value=1.0, max_value=0.0),
            r"`min_value`=1\.0 must not exceed `max_value`=0\.0",
        ),
        (
            lambda: testing.vectors(max_value=float("inf")),
            r"`max_value` must be a finite number",
        ),
        (
            lambda: testing.vectors(min_separation=-1.0),
            r"`min_separation` must be a number >= 0, got -1\.0",
        ),
        (
            lambda: testing.vectors(max_batch=100, min_separation=1.0),
            r"Cannot fit max_batch=100 points separated by 1\.0 in \[-2\.0, 2\.0\]: at most 5",
        ),
        (lambda: testing.images(min_side=0), r"`min_side` must be a positive integer, got 0"),
        (
            lambda: testing.images(min_channels=4, max_channels=3),
            r"`min_channels`=4 must not exceed `max_channels`=3",
        ),
        (
            lambda: testing.mlp_vector_fields(activations=["swish"]),
            r"`activations` must be one of \[.*'relu'.*\], got 'swish'",
        ),
        (
            lambda: testing.mlp_vector_fields(activations=[]),
            r"`activations` must name at least one of",
        ),
        (
            lambda: testing.mlp_vector_fields(weight_scale=0),
            r"`weight_scale` must be a positive finite number, got 0",
        ),
        (
            lambda: testing.conv_vector_fields(time_dependent="yes"),
            r"`time_dependent` must be True, False or None, got 'yes'",
        ),
        (
            lambda: testing.conv_vector_fields(min_filters=0),
            r"`min_filters` must be a positive integer, got 0",
        ),
        (
            lambda: testing.augmented_neural_odes(min_augment_dims=-1),
            r"`min_augment_dims` must be a non-negative integer, got -1",
        ),
        (
            lambda: testing.augmented_neural_odes(backends=["jax"]),
            r"`backends` must be one of \['torchdyn', 'torchdiffeq', 'torchode', 'native'\], "
            r"got 'jax'",
        ),
        (
            lambda: testing.augmented_neural_odes(sensitivities=["adjont"]),
            r"`sensitivities` must be one of \[.*'adjoint'.*\], got 'adjont'",
        ),
        (
            lambda: testing.augmented_neural_odes(
                backends=["torchdiffeq"], sensitivities=["interpolated_adjoint"]
            ),
            r"`sensitivities` must be one of \['adjoint', 'autograd'\]",
        ),
        (
            lambda: testing.augmented_neural_odes(backends=["torchdiffeq"], solvers=["tsit5"]),
            r"`solvers` must be one of \[.*\], got 'tsit5'",
        ),
        (
            lambda: testing.augmented_neural_odes(
                backends=["torchdiffeq", "torchdyn"], solvers=["tsit5"], sensitivities=["adjoint"]
            ),
            None,  # valid: tsit5 is kept for torchdyn only
        ),
        (
            # dopri8 is torchdiffeq's only, interpolated_adjoint torchdyn's only.
            lambda: testing.augmented_neural_odes(
                solvers=["dopri8"], sensitivities=["interpolated_adjoint"]
            ),
            r"No valid \(backend, solver, sensitivity\) among backends=\['torchdyn'",
        ),
        (lambda: testing.augmented_neural_odes(atol=0), r"`atol` must be a positive finite number"),
        (
            lambda: testing.augmented_neural_odes(vector_fields=3),
            r"`vector_fields` must be a function from a state size to a strategy",
        ),
    ],
)
def test_strategies_validate_their_arguments(make, match):
    if match is None:
        make()
        return
    with pytest.raises(InvalidArgument, match=match):
        make()


@settings(max_examples=20, deadline=None)
@given(
    testing.vectors(
        min_batch=2, max_batch=5, min_dim=2, max_dim=3, dtype=torch.float32, max_value=0.5
    )
)
def test_vectors_respect_their_bounds(x):
    assert x.dtype == torch.float32
    assert 2 <= x.shape[0] <= 5 and 2 <= x.shape[1] <= 3
    assert bool((x >= -2.0).all() and (x <= 0.5).all())


@settings(max_examples=20, deadline=None)
@given(testing.vectors(min_batch=2, max_batch=8, min_dim=1, max_dim=2, min_separation=0.1))
def test_vectors_with_separation_are_distinct(x):
    first = x[:, 0].sort().values
    assert bool((first.diff() >= 0.1 - 1e-12).all())
    assert bool((x >= -2.0).all() and (x <= 2.0).all())


@settings(max_examples=10, deadline=None)
@given(testing.images(min_channels=2, max_channels=2, min_side=3, max_side=4))
def test_images_respect_their_bounds(x):
    assert x.ndim == 4 and x.shape[1] == 2 and 3 <= x.shape[2] <= 4 and 3 <= x.shape[3] <= 4
    assert x.dtype == F64
    assert bool((x.abs() <= 1.0).all())


@settings(max_examples=10, deadline=None)
@given(testing.mlp_vector_fields(min_dim=2, max_dim=3, time_dependent=False, activations=["tanh"]))
def test_mlp_vector_fields(field):
    assert isinstance(field, MLPVectorField)
    assert 2 <= field.dim <= 3 and not field.time_dependent
    assert isinstance(field.activation, nn.Tanh)
    assert all(p.dtype == F64 for p in field.parameters())


@settings(max_examples=5, deadline=None)
@given(testing.conv_vector_fields(max_channels=2, max_filters=3, time_dependent=True))
def test_conv_vector_fields(field):
    assert isinstance(field, ConvVectorField) and field.time_dependent
    x = torch.zeros(1, field.channels, 3, 3, dtype=F64)
    assert field(torch.tensor(0.0, dtype=F64), x).shape == x.shape


def test_random_weights_replay_from_the_seed():
    strategy = testing.mlp_vector_fields(min_dim=2, max_dim=2)
    seen = []

    @settings(max_examples=3, deadline=None, database=None, derandomize=True)
    @given(strategy)
    def collect(field):
        seen.append(torch.cat([p.flatten() for p in field.parameters()]))

    collect()
    first = list(seen)
    seen.clear()
    collect()
    assert all(torch.equal(a, b) for a, b in zip(first, seen, strict=True))


@settings(max_examples=10, deadline=None)
@given(
    st.data(),
    testing.augmented_neural_odes(max_input_dim=2, max_augment_dims=2, atol=1e-4, rtol=1e-4),
)
def test_augmented_neural_odes_with_their_inputs(data, model):
    assert isinstance(model, AugmentedNeuralODE)
    assert model.backend in BACKENDS
    assert model.sensitivity in SENSITIVITIES[model.backend]
    x = data.draw(testing.model_inputs(model, max_batch=4))
    assert x.dtype == F64
    assert x.shape[1] + model.augment_dims == model.vector_field.dim
    assert model.features(x).shape == (x.shape[0], model.vector_field.dim)


def test_model_inputs_needs_a_known_field():
    model = AugmentedNeuralODE(lambda x: -x, augment_dims=0)
    with pytest.raises(
        InvalidArgument,
        match=r"`model_inputs` reads the input size from an MLPVectorField or ConvVectorField",
    ):
        testing.model_inputs(model)


@settings(max_examples=3, deadline=None)
@given(testing.model_inputs(AugmentedNeuralODE(ConvVectorField(3, 2), augment_dims=1), side=5))
def test_model_inputs_for_images(x):
    assert x.shape[1:] == (2, 5, 5)
    assert x.dtype == torch.float32  # the model's dtype


@settings(max_examples=10, deadline=None)
@given(
    testing.augmented_neural_odes(
        backends=["torchdiffeq", "torchdyn"], solvers=["tsit5", "euler"], sensitivities=["adjoint"]
    )
)
def test_augmented_neural_odes_keep_valid_combinations(model):
    assert model.sensitivity == "adjoint"
    allowed = ("tsit5", "euler") if model.backend == "torchdyn" else ("euler",)
    assert any(f"solver={name!r}" in repr(model) for name in allowed)


# ---------------------------------------------------------------------------- checks pass
def test_all_checks_pass_on_an_ode_flow():
    model = _good_model()
    x = torch.randn(12, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert_flow_properties(model, x, atol=1e-6)


def test_checks_pass_on_images():
    torch.manual_seed(0)
    model = AugmentedNeuralODE(
        ConvVectorField(2, 4, activation="tanh"), augment_dims=1, atol=1e-7, rtol=1e-7
    ).double()
    x = torch.randn(3, 1, 3, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    assert_flow_properties(model, x, atol=1e-4)


def test_non_crossing_passes_on_a_continuous_1d_flow():
    # The same field as the failing ResNet below, solved as an ODE: order is preserved.
    model = AugmentedNeuralODE(lambda x: -2.0 * x, augment_dims=0).double()
    assert_non_crossing(model, _line(9), t_span=torch.linspace(0, 1, 5))


# ---------------------------------------------------------------------------- checks fail
def test_non_crossing_fails_on_a_discretised_flow_showing_the_pair():
    with pytest.raises(AssertionError) as info:
        assert_non_crossing(_resnet_like(), _line(5))
    message = str(info.value)
    assert message.startswith(
        "Trajectories cross: x[0] = -1 < x[1] = -0.5, but at t=1 their states are 1 >= 0.5."
    )
    assert "trajectory of x[0]: [-1, 1]" in message
    assert "trajectory of x[1]: [-0.5, 0.5]" in message
    assert "10 pair(s) cross or meet" in message
    assert "Figure 3" in message


def test_non_crossing_fails_when_1d_trajectories_meet():
    # Euler with f(x) = -x and step 1 sends every input to 0.
    with pytest.raises(AssertionError, match=r"Trajectories meet: x\[0\] = -1 < x\[1\] = -0\.5"):
        assert_non_crossing(_resnet_like(lambda x: -x), _line(5))


def test_non_crossing_fails_when_features_collapse_in_higher_dimensions():
    x = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], dtype=F64)
    with pytest.raises(
        AssertionError,
        match=r"(?s)Trajectories meet: distinct inputs x\[0\] and x\[1\] come within 0 of each "
        r"other at t=1 \(closer than 1\.49e-08 x their input distance 1\.41421\).*"
        r"x\[0\] = \[0, 1\]  ->  z\(t\) = \[0, 0, 0\]",
    ):
        assert_non_crossing(_resnet_like(lambda x: -x, augment_dims=1), x)


def test_non_crossing_with_an_absolute_threshold():
    # dx/dt = -5x contracts distances by e^-5 ~ 0.0067: fine by default (only a collapse
    # by sqrt(eps) counts), not with a threshold larger than the final distance.
    model = AugmentedNeuralODE(lambda x: -5.0 * x, augment_dims=0, atol=1e-9, rtol=1e-9).double()
    x = torch.tensor([[0.0], [0.1]], dtype=F64)
    assert_non_crossing(model, x)
    with pytest.raises(AssertionError, match=r"closer than min_distance=0\.001"):
        assert_non_crossing(model, x, min_distance=1e-3)


def test_non_crossing_ignores_coincident_inputs():
    x = torch.tensor([[0.5], [0.5], [-0.5]], dtype=F64)
    assert_non_crossing(_good_model(1, 0), x)


def test_invertible_fails_on_a_discretised_flow():
    # Euler backwards from -x gives -x + 2(-x)... = -3x, not x.
    with pytest.raises(
        AssertionError,
        match=r"(?s)The flow is not invertible within atol=1e-05, rtol=0: inverse\(features\(x\)\) "
        r"differs from x by up to 4 \(4 of 5 samples off\).*worst sample: x\[0\] = \[-1\].*"
        r"inverse\(features\(x\[0\]\)\) = \[3\]",
    ):
        assert_invertible(_resnet_like(), _line(5))


def test_invertible_fails_with_loose_tolerances_and_a_strict_atol():
    model = _good_model()
    model.atol = model.rtol = 1e-2
    x = torch.randn(8, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError, match=r"not invertible within atol=1e-12"):
        assert_invertible(model, x, atol=1e-12)


class _MisplacedStrip(Augmenter):
    """Strips from the wrong side: keeps the zeros and drops the end of x."""

    def strip(self, z, *, original_size=None):
        return z.narrow(1, 0, z.shape[1] - self.augment_dims)


class _NonZeroAugmenter(Augmenter):
    def forward(self, x):
        return torch.cat([x, torch.ones_like(x[:, : self.augment_dims])], 1)


def test_roundtrip_passes_on_ours():
    x = torch.randn(4, 3, 2, 2)
    for order in ("first", "last"):
        assert_augmentation_roundtrip(Augmenter(1, 2, order=order), x)
    assert_augmentation_roundtrip(Augmenter(-1, 3), x)
    assert_augmentation_roundtrip(Augmenter(1, 0, nn.Linear(2, 4)), torch.randn(5, 2))


def test_roundtrip_fails_on_a_broken_strip():
    x = torch.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(
        AssertionError,
        match=r"(?s)strip\(augmenter\(x\)\) differs from x at 6 entries; first at index \(0, 0\): "
        r"0 instead of 1\..*augmenter\(x\)\[0\] = \[0, 0, 1, 2, 3\]",
    ):
        assert_augmentation_roundtrip(_MisplacedStrip(1, 2, order="first"), x)


def test_roundtrip_fails_on_non_zero_augmentation():
    with pytest.raises(AssertionError, match=r"augmented part of augmenter\(x\) is not zero"):
        assert_augmentation_roundtrip(_NonZeroAugmenter(1, 1, order="last"), torch.randn(2, 3))


def test_roundtrip_needs_strip():
    with pytest.raises(TypeError, match=r"`augmenter` must have a `strip` method"):
        assert_augmentation_roundtrip(torchdyn.nn.Augmenter(1, 2), torch.randn(2, 3))


class _MiscountingModel(AugmentedNeuralODE):
    """Counts every evaluation twice."""

    @property
    def nfe(self) -> NFERecord:
        record = super().nfe
        return record + record


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint"])
def test_nfe_consistent_passes_for_modules_and_callables(backend, sensitivity):
    torch.manual_seed(0)
    field = MLPVectorField(3, 8)
    model = AugmentedNeuralODE(field, augment_dims=1, backend=backend, sensitivity=sensitivity)
    x = torch.randn(4, 2)
    assert_nfe_consistent(model, x)
    assert not field._forward_pre_hooks  # the counting hook is gone
    assert all(p.grad is None for p in field.parameters())  # .grad left alone

    def callable_field(t, x):
        return -x

    model = AugmentedNeuralODE(
        callable_field, augment_dims=0, backend=backend, sensitivity=sensitivity
    )
    assert_nfe_consistent(model, x[:, :1])
    assert model.vector_field is callable_field  # the counting wrapper is gone


def test_nfe_consistent_fails_on_a_miscounting_model():
    torch.manual_seed(0)
    model = _MiscountingModel(MLPVectorField(3, 8), augment_dims=1)
    with pytest.raises(AssertionError) as info:
        assert_nfe_consistent(model, torch.randn(4, 2))
    found = re.search(
        r"model\.nfe disagrees with an independent count of vector-field calls:\n"
        r"  after forward:  model says NFERecord\(forward=(\d+), backward=0\), counted "
        r"NFERecord\(forward=(\d+), backward=0\)",
        str(info.value),
    )
    assert found, str(info.value)
    said, counted = (int(v) for v in found.groups())
    assert said == 2 * counted > 0


def test_checks_validate_their_arguments():
    model = _good_model()
    with pytest.raises(TypeError, match=r"`x` must be a torch\.Tensor, got list"):
        assert_invertible(model, [[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"`x` must be a batch \[batch, d, \.\.\.\]"):
        assert_non_crossing(model, torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match=r"`atol` must be a non-negative number, got -1"):
        assert_invertible(model, torch.zeros(2, 2, dtype=F64), atol=-1)


# ---------------------------------------------------------------------------- pytest plugin
def test_plugin_is_registered_through_the_entry_point(request):
    points = importlib.metadata.entry_points(group="pytest11")
    assert any(p.value == "anode_plugin_pytest" for p in points)
    assert request.config.pluginmanager.hasplugin("anode_plugin")


def test_three_line_user_test(anode_check_flow):
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, atol=1e-8, rtol=1e-8)
    anode_check_flow(model.double())


def test_fixture_with_a_custom_field(anode_check_flow):
    class Rotation(nn.Module):
        def forward(self, t, x):
            return torch.stack([-x[:, 1], x[:, 0]], dim=1)

    model = AugmentedNeuralODE(Rotation(), augment_dims=0, atol=1e-9, rtol=1e-9).double()
    anode_check_flow(model, input_shape=(2,), batch=8, atol=1e-6)


def test_fixture_needs_a_shape_for_unknown_fields(anode_check_flow):
    with pytest.raises(ValueError, match=r"pass `input_shape=\(d,\)` or `\(c, h, w\)`"):
        anode_check_flow(AugmentedNeuralODE(lambda x: -x, augment_dims=0))


def test_inputs_fixture_is_seeded_per_test(anode_inputs, anode_seed):
    a = anode_inputs((2,), batch=5)
    b = anode_inputs((2,), batch=5)
    assert torch.equal(a, b) and a.shape == (5, 2) and a.dtype == F64
    assert bool((a >= -2).all() and (a < 2).all())
    model = AugmentedNeuralODE(ConvVectorField(3, 2), augment_dims=1)
    assert anode_inputs(model, batch=2).shape == (2, 2, 4, 4)
    assert isinstance(anode_seed, int)


def test_plugin_failure_shows_the_crossing_pair(pytester):
    pytester.makepyfile(
        """
        import torch
        from anode_plugin import AugmentedNeuralODE

        def test_resnet_like(anode_check_flow):
            model = AugmentedNeuralODE(lambda x: -2 * x, augment_dims=0, solver="euler").double()
            anode_check_flow(model, input_shape=(1,))
        """
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [r"E\s+AssertionError: Trajectories cross: x\[\d+\] = \S+ < x\[\d+\] = \S+, but at t=1"]
    )


# ---------------------------------------------------------------------------- the docs page
DOCS = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def _text_blocks() -> list[str]:
    return re.findall(r"```text\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def test_docs_show_the_real_message_of_the_failing_example():
    class Flip(nn.Module):
        def forward(self, x):
            return -2.0 * x

    x = torch.tensor([[-1.0], [-0.5], [0.5], [1.0]], dtype=F64)
    resnet = AugmentedNeuralODE(Flip(), augment_dims=0, solver="euler").double()
    with pytest.raises(AssertionError) as info:
        assert_non_crossing(resnet, x)
    printed = f"{resnet.features(x).flatten()}\n{info.value}\n"
    assert _text_blocks()[0] == printed


def test_docs_show_the_real_pytest_report(pytester):
    # Same file and test names as the docs: the plugin's seed, hence the inputs, match.
    pytester.makepyfile(
        test_my_fields="""
import torch
from torch import nn

from anode_plugin import AugmentedNeuralODE


class Flip(nn.Module):
    def forward(self, x):
        return -2.0 * x


def test_resnet_like_flow(anode_check_flow):
    model = AugmentedNeuralODE(Flip(), augment_dims=0, solver="euler").double()
    anode_check_flow(model, input_shape=(1,), batch=8)
"""
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    shown = _text_blocks()[1].splitlines()
    assert shown[-1] == "test_my_fields.py:14: AssertionError"
    errors = [line for line in shown if line.startswith("E ")]
    lines = result.outlines
    start = lines.index(errors[0])  # exact text: fnmatch would read [..] as a pattern
    assert lines[start : start + len(errors)] == errors


def test_the_checks_leave_the_model_nfe_untouched():
    model = _good_model()
    x = torch.randn(6, 2, dtype=F64)
    model(x)
    before = model.nfe
    assert before.forward > 0
    assert_flow_properties(model, x)
    assert model.nfe == before


def test_docs_show_the_real_reconstruction_report():
    from anode_plugin.testing import (
        assert_reconstructs,
        loosest_passing_tolerance,
        reconstruction_error,
    )

    torch.manual_seed(0)
    field = MLPVectorField(3, 16, activation="tanh")
    with torch.no_grad():
        for parameter in field.parameters():
            parameter.mul_(5.0)
    model = AugmentedNeuralODE(field, augment_dims=1).double()
    x = torch.randn(16, 2, dtype=F64)
    report = reconstruction_error(model, x)
    tol = loosest_passing_tolerance(model, x, threshold=1e-3)
    with pytest.raises(AssertionError) as info:
        assert_reconstructs(model, x, threshold=1e-3)
    printed = (
        f"at 1e-3: largest relative error {report.max:.2g}, mean {report.mean:.2g}\n"
        f"loosest passing tolerance: {tol:g}\n{info.value}\n"
    )
    (shown,) = [block for block in _text_blocks() if block.startswith("at 1e-3:")]
    assert shown == printed
