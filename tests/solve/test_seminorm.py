"""Seminorm adjoint (Kidger, Chen & Lyons, 2021) on both backends."""

from __future__ import annotations

import copy

import pytest
import torch

from anode_plugin import BACKENDS, AugmentedNeuralODE, ConvVectorField, MLPVectorField

pytestmark = pytest.mark.numerics


def _gradients(model: AugmentedNeuralODE, x: torch.Tensor, scale: float = 1.0):
    leaf = x.clone().requires_grad_(True)
    t_span = torch.linspace(0, 1, 4, dtype=x.dtype)
    sol = model.trajectory(leaf, t_span)
    # A loss on every saved time, so the adjoint is restarted at each of them.
    (scale * (sol[1:] ** 2).sum()).backward()
    params = torch.cat([p.grad.flatten() for p in model.parameters()])
    return params, leaf.grad


def test_our_torchdyn_adjoint_matches_torchdyns_own():
    torch.manual_seed(1)
    field = ConvVectorField(1 + 2, 4, activation="tanh")
    x = torch.rand(2, 1, 6, 6)
    theirs = AugmentedNeuralODE(
        copy.deepcopy(field), augment_dims=2, sensitivity="adjoint"
    )  # seminorm=None
    ours = AugmentedNeuralODE(
        copy.deepcopy(field), augment_dims=2, sensitivity="adjoint", seminorm=True
    )
    (g_theirs, x_theirs), (g_ours, x_ours) = _gradients(theirs, x), _gradients(ours, x)
    # Measured: 3.1e-5 (parameters' gradients, up to ~10 in size) and 1.4e-6 (the input's),
    # both CPU capabilities (benchmarks/tolerance_audit.py).
    torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=2.5e-4)
    torch.testing.assert_close(x_ours, x_theirs, rtol=0, atol=1.2e-5)
    # torchdyn's own also evaluates the field once per saved time for the time gradients.
    assert ours.nfe.backward <= theirs.nfe.backward


@pytest.mark.parametrize("backend", BACKENDS)
def test_seminorm_saves_backward_evaluations_at_the_same_gradients(backend):
    torch.manual_seed(0)
    field = MLPVectorField(2 + 2, 32, activation="tanh")
    with torch.no_grad():
        for p in field.parameters():
            p.mul_(2)
    x = torch.randn(8, 2)
    counts, grads = {}, {}
    for seminorm in (True, False):
        model = AugmentedNeuralODE(
            copy.deepcopy(field),
            augment_dims=2,
            backend=backend,
            sensitivity="adjoint",
            seminorm=seminorm,
        )
        # A large loss makes the parameters' adjoint, which the seminorm ignores, dominate.
        (100 * model.features(x).pow(2).sum()).backward()
        counts[seminorm] = model.nfe.backward
        grads[seminorm] = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert counts[True] < counts[False]
    torch.testing.assert_close(
        grads[True], grads[False], rtol=0, atol=3e-4 * grads[False].abs().max().item()
    )  # measured 3.7e-5 of the largest gradient (both CPU capabilities)


def test_seminorm_false_with_torchdyn_is_honoured():
    model = AugmentedNeuralODE(
        MLPVectorField(3), augment_dims=1, sensitivity="adjoint", seminorm=False
    )
    model.features(torch.randn(4, 2)).sum().backward()
    assert model.nfe.backward > 0


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_bad_seminorm_is_refused(value):
    with pytest.raises(ValueError, match="`seminorm` must be True, False or None"):
        AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, sensitivity="adjoint", seminorm=value)
