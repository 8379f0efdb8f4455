"""Kinetic and Jacobian regularisers (Finlay et al., 2020) integrated with the state."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from anode_plugin import BACKENDS, AugmentedNeuralODE, ConvVectorField, MLPVectorField
from anode_plugin._regularisers import RegularisedField

pytestmark = pytest.mark.numerics

PAIRS = [(b, s) for b in BACKENDS for s in ("autograd", "adjoint")]
TIGHT = {"atol": 1e-9, "rtol": 1e-9, "atol_adjoint": 1e-9, "rtol_adjoint": 1e-9}


def _linear(dim: int, seed: int = 0) -> nn.Linear:
    """``f(z) = A z`` with a fixed, mildly contracting ``A``."""
    torch.manual_seed(seed)
    layer = nn.Linear(dim, dim, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(0.5 * torch.randn(dim, dim, dtype=torch.float64) / dim**0.5)
    return layer


@pytest.mark.parametrize(("backend", "sensitivity"), PAIRS)
def test_kinetic_energy_matches_the_closed_form_of_a_linear_flow(backend, sensitivity):
    field = _linear(3)
    model = AugmentedNeuralODE(
        field,
        augment_dims=0,
        backend=backend,
        sensitivity=sensitivity,
        regularisers=("kinetic",),
        **TIGHT,
    ).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    model.features(x)
    a = field.weight.detach()
    # ||A exp(At) x||^2 / n on a fine grid, integrated by Simpson's rule over [0, 1].
    ts = torch.linspace(0, 1, 2001, dtype=torch.float64)
    rates = torch.stack([(x @ (a @ torch.matrix_exp(a * t)).T).pow(2).mean(1) for t in ts])
    weights = torch.ones(2001, dtype=torch.float64)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    expected = (weights[:, None] * rates).sum(0) / (3 * 2000)
    # Measured: 1.4e-9 (both CPU capabilities, benchmarks/tolerance_audit.py).
    torch.testing.assert_close(model.regularisation["kinetic"], expected, rtol=0, atol=1.2e-8)


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobian_is_hutchinson_estimate_of_the_frobenius_norm(backend, probe, monkeypatch):
    probes = []  # the probe each solve draws
    start = RegularisedField.start

    def recording_start(self, z0):
        state = start(self, z0)
        probes.append(self.probe)
        return state

    monkeypatch.setattr(RegularisedField, "start", recording_start)
    field = _linear(4, seed=1)
    model = AugmentedNeuralODE(
        field,
        augment_dims=0,
        backend=backend,
        regularisers=("jacobian",),
        jacobian_probe=probe,
        **TIGHT,
    ).double()
    torch.manual_seed(2)
    model.features(torch.randn(4000, 4, dtype=torch.float64))
    a = field.weight.detach()
    (eps,) = probes
    # A constant Jacobian: each sample's integral is exactly ||eps^T A||^2 / n over t in [0, 1].
    torch.testing.assert_close(
        model.regularisation["jacobian"], (eps @ a).pow(2).mean(1), rtol=0, atol=6e-14
    )  # measured 6.9e-15 (both CPU capabilities, benchmarks/tolerance_audit.py)
    # ... whose mean over samples estimates ||A||_F^2 / n.
    mean = model.regularisation["jacobian"].mean()
    assert abs(mean / (a.pow(2).sum() / 4) - 1) < 0.06


@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint"])
def test_regularisers_leave_solution_and_nfe_of_torchdiffeq_unchanged(sensitivity):
    torch.manual_seed(0)
    field = MLPVectorField(2 + 2, 16, activation="tanh")
    plain = AugmentedNeuralODE(copy.deepcopy(field), augment_dims=2, backend="torchdiffeq")
    reg = AugmentedNeuralODE(
        copy.deepcopy(field),
        augment_dims=2,
        backend="torchdiffeq",
        sensitivity=sensitivity,
        regularisers=("kinetic", "jacobian"),
    )
    x = torch.randn(32, 2)
    # The accumulators stay out of step-size control: identical steps, identical counts.
    torch.testing.assert_close(reg.features(x), plain.features(x), rtol=0, atol=0)
    assert reg.nfe.forward == plain.nfe.forward


def test_regularisers_leave_the_torchdyn_solution_within_tolerance():
    torch.manual_seed(0)
    field = MLPVectorField(2 + 2, 16, activation="tanh")
    plain = AugmentedNeuralODE(copy.deepcopy(field), augment_dims=2)
    reg = AugmentedNeuralODE(
        copy.deepcopy(field), augment_dims=2, regularisers=("kinetic", "jacobian")
    )
    x = torch.randn(32, 2)
    # Measured: 2.4e-7 (both CPU capabilities, benchmarks/tolerance_audit.py).
    torch.testing.assert_close(reg.features(x), plain.features(x), rtol=0, atol=2e-6)
    # torchdyn's first step size sees the accumulators; the steps that follow do not.
    assert abs(reg.nfe.forward - plain.nfe.forward) <= 6


@pytest.mark.parametrize(("backend", "sensitivity"), PAIRS)
def test_image_states_give_per_sample_values_with_gradients(backend, sensitivity):
    torch.manual_seed(0)
    model = AugmentedNeuralODE(
        ConvVectorField(1 + 2, 4),
        augment_dims=2,
        backend=backend,
        sensitivity=sensitivity,
        regularisers=("jacobian", "kinetic"),
        jacobian_probe="rademacher",
    )
    x = torch.rand(3, 1, 5, 5)
    z = model.features(x)
    assert z.shape == (3, 3, 5, 5)
    reg = model.regularisation
    assert list(reg) == ["jacobian", "kinetic"]
    assert all(v.shape == (3,) and bool((v > 0).all()) for v in reg.values())
    # Each sample's kinetic term is its own ∫ mean(f(t, z)^2) dt: Simpson's rule on the
    # trajectory (41 times) of the same model, without regularisers.
    plain = AugmentedNeuralODE(model.vector_field, augment_dims=2, atol=1e-6, rtol=1e-6)
    times = torch.linspace(0, 1, 41)
    with torch.no_grad():
        states = plain.trajectory(x, times)
        rates = torch.stack(
            [
                model.vector_field(t, s).pow(2).flatten(1).mean(1)
                for t, s in zip(times, states, strict=True)
            ]
        )
    weights = torch.ones(41)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    kinetic = (weights[:, None] * rates).sum(0) / (3 * 40)
    # Measured: 7.8e-4 relative at most (torchode; 6.2e-4 torchdyn, 4.6e-4 torchdiffeq,
    # both CPU capabilities): the solve at its default tolerance, 1e-3.
    torch.testing.assert_close(reg["kinetic"].detach(), kinetic, rtol=7e-3, atol=0)
    (reg["kinetic"].mean() + reg["jacobian"].mean()).backward()
    grad = model.vector_field.conv2.weight.grad
    assert grad is not None and bool(grad.abs().sum() > 0)


def test_regularisation_is_empty_without_regularisers_and_untouched_by_inverse():
    assert AugmentedNeuralODE(MLPVectorField(3), augment_dims=1).regularisation == {}
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, regularisers="kinetic")
    z = model.features(torch.randn(4, 2))
    before = model.regularisation["kinetic"].clone()
    model.inverse(z.detach())
    torch.testing.assert_close(model.regularisation["kinetic"], before)


def test_eval_under_no_grad_computes_values_without_graph():
    model = AugmentedNeuralODE(
        MLPVectorField(3), augment_dims=1, regularisers=("kinetic", "jacobian")
    )
    with torch.no_grad():
        model.features(torch.randn(4, 2))
    assert all(not v.requires_grad for v in model.regularisation.values())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"regularisers": ("kinetics",)}, "`regularisers` must be one of"),
        ({"regularisers": ("kinetic", "kinetic")}, "each regulariser once"),
        ({"regularisers": 3}, "`regularisers` must be a sequence"),
        ({"jacobian_probe": "normal"}, "`jacobian_probe` must be one of"),
        (
            {"regularisers": ("kinetic",), "sensitivity": "interpolated_adjoint"},
            "interpolated_adjoint",
        ),
    ],
)
def test_bad_regulariser_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, **kwargs)


# ---------------------------------------------------------------- Lightning
def _module(**kwargs):
    from anode_plugin.lightning import ANODEModule

    torch.manual_seed(0)
    ode = AugmentedNeuralODE(
        MLPVectorField(2 + 1, 8), augment_dims=1, regularisers=("kinetic", "jacobian")
    )
    return ANODEModule(ode, num_outputs=2, feature_dim=3, weight_decay=1e-4, **kwargs)


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`:UserWarning")
def test_module_adds_weighted_regularisers_to_the_training_loss():
    batch = (torch.randn(8, 2), torch.randint(0, 2, (8,)))
    plain, weighted = _module(), _module(kinetic_weight=0.5, jacobian_weight=2.0)
    weighted.load_state_dict(plain.state_dict())
    torch.manual_seed(1)
    base = plain.training_step(batch, 0)
    torch.manual_seed(1)
    total = weighted.training_step(batch, 0)
    reg = weighted.ode.regularisation
    expected = base + 0.5 * reg["kinetic"].mean() + 2.0 * reg["jacobian"].mean()
    torch.testing.assert_close(total, expected)
    total.backward()
    assert weighted.ode.vector_field.fc1.weight.grad is not None


def test_module_logs_regularisers_while_fitting(tmp_path):
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    module = _module(kinetic_weight=0.1, jacobian_weight=0.1)
    data = TensorDataset(torch.randn(32, 2), torch.randint(0, 2, (32,)))
    trainer = pl.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(data, batch_size=16))
    metrics = trainer.callback_metrics
    assert {"train/loss", "train/reg/kinetic", "train/reg/jacobian"} <= set(metrics)
    assert float(metrics["train/reg/kinetic"]) > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kinetic_weight": -1.0}, "`kinetic_weight` must be a number >= 0"),
        ({"jacobian_weight": "a"}, "`jacobian_weight` must be a number >= 0"),
    ],
)
def test_module_refuses_bad_weights(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _module(**kwargs)


def test_module_refuses_a_weight_without_the_regulariser():
    from anode_plugin.lightning import ANODEModule

    ode = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, regularisers=("kinetic",))
    with pytest.raises(
        ValueError, match=r"`jacobian_weight`=0\.1 needs an ODE block that integrates"
    ):
        ANODEModule(ode, num_outputs=2, jacobian_weight=0.1)
    plain = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    with pytest.raises(
        ValueError, match=r"`kinetic_weight`=0\.1 needs an ODE block that integrates"
    ):
        ANODEModule(plain, num_outputs=2, kinetic_weight=0.1)
