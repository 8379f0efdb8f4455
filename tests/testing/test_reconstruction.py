"""Reconstruction checks: errors measured, tolerances searched and restored, failures explained."""

from __future__ import annotations

import math
import re

import pytest
import torch

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField
from anode_plugin.testing import (
    TOLERANCE_LADDER,
    ReconstructionReport,
    assert_reconstructs,
    loosest_passing_tolerance,
    reconstruction_error,
    solver_tolerances,
)

F64 = torch.float64


def _mlp_model(scale: float = 1.0, dtype: torch.dtype = F64, **kwargs) -> AugmentedNeuralODE:
    """A tanh MLP field whose weights are multiplied by ``scale`` (larger: stiffer flow)."""
    torch.manual_seed(0)
    field = MLPVectorField(3, 16, activation="tanh")
    with torch.no_grad():
        for parameter in field.parameters():
            parameter.mul_(scale)
    return AugmentedNeuralODE(field, augment_dims=1, **kwargs).to(dtype)


def _inputs(dtype: torch.dtype = F64) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(16, 2, dtype=dtype)


def _euler_model() -> AugmentedNeuralODE:
    """Two Euler steps of 0.5 of dx/dt = -2x: x -> x - x = 0, a map with no inverse."""
    field = lambda x: -2.0 * x  # noqa: E731
    return AugmentedNeuralODE(
        field, augment_dims=0, solver="euler", t_span=[0.0, 0.5, 1.0]
    ).double()


def test_tight_float64_solve_reconstructs():
    model, x = _mlp_model(), _inputs()
    report = reconstruction_error(model, x, atol=1e-10, rtol=1e-10)
    assert isinstance(report, ReconstructionReport)
    assert report.relative.shape == report.absolute.shape == (16,)
    assert report.max < 1e-6 and report.mean <= report.max
    assert (report.atol, report.rtol) == (1e-10, 1e-10)
    assert report.passes(1e-6)
    assert_reconstructs(model, x, threshold=1e-6, atol=1e-10, rtol=1e-10)


def test_errors_are_the_norms_of_the_round_trip():
    model, x = _mlp_model(scale=4.0), _inputs()
    report = reconstruction_error(model, x)
    with torch.no_grad():
        recovered = model.inverse(model.features(x))
    absolute = (recovered - x).norm(dim=1)
    torch.testing.assert_close(report.absolute, absolute)
    torch.testing.assert_close(report.relative, absolute / x.norm(dim=1))
    assert report.worst == int(report.relative.argmax())
    assert (report.atol, report.rtol) == (model.atol, model.rtol) == (1e-3, 1e-3)


def test_images_are_measured_per_sample():
    torch.manual_seed(0)
    model = AugmentedNeuralODE(ConvVectorField(3, 4), augment_dims=2)
    report = reconstruction_error(model, torch.rand(3, 1, 6, 6))
    assert report.relative.shape == (3,)
    assert math.isfinite(report.max)


@pytest.mark.filterwarnings("ignore:Setting tolerances has no effect:UserWarning")
def test_euler_with_large_steps_does_not_reconstruct():
    model, x = _euler_model(), _inputs()
    report = reconstruction_error(model, x)
    torch.testing.assert_close(report.relative, torch.ones(16, dtype=F64))  # x_rec = 0
    assert not report.passes()
    worst = report.worst
    message = (
        r"inverse\(features\(x\)\) does not return x within a relative error of 0\.01 at "
        r"solver tolerances atol=0\.001, rtol=0\.001: 16 of 16 samples off, mean relative "
        rf"error 1\.\n  worst sample: x\[{worst}\], relative error 1 "
    )
    with pytest.raises(AssertionError, match=message) as caught:
        assert_reconstructs(model, x)
    assert f"inverse(features(x[{worst}])) = [0, 0]" in str(caught.value)
    assert loosest_passing_tolerance(model, x) is None  # tolerances cannot help Euler


def test_loosest_passing_tolerance_is_the_first_rung_that_passes():
    model, x = _mlp_model(scale=5.0), _inputs()
    tol = loosest_passing_tolerance(model, x, threshold=1e-3)
    assert tol in TOLERANCE_LADDER
    errors = {t: reconstruction_error(model, x, atol=t, rtol=t).max for t in TOLERANCE_LADDER}
    assert errors[tol] < 1e-3
    assert all(errors[t] >= 1e-3 for t in TOLERANCE_LADDER if t > tol)
    assert tol == 1e-6  # measured: 2, 4e-2, 1e-2, then 3e-4 at 1e-6
    # A looser threshold passes at a looser (or the same) tolerance; a tiny one nowhere.
    looser = loosest_passing_tolerance(model, x, threshold=1e-1)
    assert looser is not None and looser >= tol
    assert loosest_passing_tolerance(model, x, ladder=(1e-3, 1e-4), threshold=1e-3) is None
    assert (model.atol, model.rtol) == (1e-3, 1e-3)


def test_float32_ladder_reaches_1e_8():
    model, x = _mlp_model(dtype=torch.float32), _inputs(torch.float32)
    assert loosest_passing_tolerance(model, x, ladder=(1e-8,), threshold=1e-2) == 1e-8


def test_nfe_is_left_alone():
    model, x = _mlp_model(), _inputs()
    model.features(x)
    before = model.nfe
    reconstruction_error(model, x)
    loosest_passing_tolerance(model, x)
    assert model.nfe == before


class _Boom(torch.nn.Module):
    def forward(self, t, x):
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: reconstruction_error(m, x, atol=1e-6, rtol=1e-7),
        lambda m, x: loosest_passing_tolerance(m, x),
        lambda m, x: assert_reconstructs(m, x, atol=1e-6),
    ],
    ids=["reconstruction_error", "loosest_passing_tolerance", "assert_reconstructs"],
)
def test_tolerances_are_restored_when_a_solve_raises(call):
    model = AugmentedNeuralODE(_Boom(), augment_dims=1, atol=2e-3, rtol=3e-3)
    with pytest.raises(RuntimeError, match="boom"):
        call(model, torch.randn(4, 2))
    assert (model.atol, model.rtol) == (2e-3, 3e-3)


def test_solver_tolerances_sets_and_restores():
    model = _mlp_model()
    with solver_tolerances(model, rtol=1e-7):
        assert (model.atol, model.rtol) == (1e-3, 1e-7)
    assert (model.atol, model.rtol) == (1e-3, 1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ladder": ()}, "`ladder` must be a non-empty sequence of positive tolerances"),
        ({"ladder": (1e-4, 1e-3)}, r"strictly decreasing \(loosest first\).*got \(0\.0001"),
        ({"ladder": (1e-3, 1e-3)}, "strictly decreasing"),
        ({"ladder": (1e-3, 0.0)}, "positive tolerances"),
        ({"ladder": (1e-3, -1e-4)}, "positive tolerances"),
        ({"ladder": 1e-3}, r"got 0\.001"),
        ({"ladder": ("1e-3",)}, "positive tolerances"),
        ({"threshold": 0.0}, r"`threshold` must be a positive finite number.*got 0\.0"),
        ({"threshold": -1.0}, "`threshold` must be a positive finite number"),
        ({"threshold": math.inf}, "`threshold` must be a positive finite number"),
        ({"threshold": True}, "`threshold` must be a positive finite number"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        loosest_passing_tolerance(_mlp_model(), _inputs(), **kwargs)


@pytest.mark.parametrize("name", ["atol", "rtol"])
@pytest.mark.parametrize("value", [0.0, -1e-3, "1e-3"])
def test_bad_tolerances_are_refused(name, value):
    with pytest.raises(ValueError, match=f"`{name}` must be None or a positive number"):
        reconstruction_error(_mlp_model(), _inputs(), **{name: value})


def test_tolerance_below_the_dtype_floor_is_the_models_error():
    model, x = _mlp_model(dtype=torch.float32), _inputs(torch.float32)
    with pytest.raises(ValueError, match=r"ask for more accuracy than torch\.float32"):
        loosest_passing_tolerance(model, x, ladder=(1e-10,))
    assert (model.atol, model.rtol) == (1e-3, 1e-3)


@pytest.mark.parametrize(
    "check", [reconstruction_error, loosest_passing_tolerance, assert_reconstructs]
)
def test_a_model_that_is_not_an_augmented_neural_ode_is_refused(check):
    name = check.__name__
    with pytest.raises(TypeError, match=re.escape(f"`{name}` takes an anode_plugin.Aug")):
        check(torch.nn.Linear(2, 2), _inputs())


def test_a_bad_batch_is_refused():
    with pytest.raises(ValueError, match="`x` must be a batch"):
        reconstruction_error(_mlp_model(), torch.randn(2, dtype=F64))
