"""ANODEModule: the ODE block plus readout as a LightningModule."""

from __future__ import annotations

import subprocess
import sys

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from helpers import quiet_trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchdyn.core import NeuralODE
from torchdyn.nn import Augmenter as TorchdynAugmenter

from anode_plugin import AugmentedNeuralODE, Augmenter, MLPVectorField
from anode_plugin.datasets import ConcentricSpheresDataModule, ReflectionDataModule
from anode_plugin.lightning import (
    ANODEModule,
)

# Steps called by hand, outside a Trainer, log nothing: Lightning says so.
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`:UserWarning")


def _ode(d: int = 2, p: int = 1, **kwargs) -> AugmentedNeuralODE:
    return AugmentedNeuralODE(MLPVectorField(d + p, 16), augment_dims=p, **kwargs)


def _trainer(tmp_path, **kwargs) -> pl.Trainer:
    return quiet_trainer(tmp_path, **kwargs)


def test_classification_fit_validate_test_logs_the_documented_keys(tmp_path):
    torch.manual_seed(0)
    model = ANODEModule(_ode(), num_outputs=2)  # feature_dim inferred at setup
    data = ConcentricSpheresDataModule(
        num_inner=32, num_outer=32, num_val=32, num_test=32, labels="classes", batch_size=32
    )
    trainer = _trainer(tmp_path)
    trainer.fit(model, data)
    assert isinstance(model.head, nn.Linear) and model.head.in_features == 3
    assert {"train/loss", "val/loss", "val/acc"} <= set(trainer.callback_metrics)
    assert not any(k.endswith(("_step", "_epoch")) for k in trainer.callback_metrics)
    results = trainer.test(model, data, verbose=False)[0]
    assert set(results) == {"test/loss", "test/acc"}
    assert 0.0 <= results["test/acc"] <= 1.0


def test_training_step_returns_the_loss():
    torch.manual_seed(0)
    model = ANODEModule(_ode(), num_outputs=3, feature_dim=3)
    x, y = torch.randn(8, 2), torch.randint(0, 3, (8,))
    loss = model.training_step((x, y), 0)
    assert torch.allclose(loss, F.cross_entropy(model(x), y))
    assert loss.requires_grad


def test_regression_learns_the_paper_g1d_without_readout(tmp_path):
    # ANODE with readout=False: the prediction is the original coordinate of phi(x).
    torch.manual_seed(0)
    model = ANODEModule(_ode(d=1, p=1), task="regression", readout=False, loss="mse", lr=1e-2)
    assert model.head is None
    data = ReflectionDataModule(num_train=128, num_val=64, batch_size=32)
    trainer = _trainer(tmp_path, max_epochs=12)
    before = trainer.validate(model, data, verbose=False)[0]["val/loss"]
    trainer.fit(model, data)
    after = trainer.callback_metrics["val/loss"].item()
    assert after < 0.3 * before, (before, after)


@pytest.mark.parametrize("loss, fn", [("smooth_l1", F.smooth_l1_loss), ("mse", F.mse_loss)])
def test_regression_targets_of_shape_batch_or_batch_k(loss, fn):
    torch.manual_seed(0)
    model = ANODEModule(_ode(), task="regression", num_outputs=1, feature_dim=3, loss=loss)
    x, y = torch.randn(6, 2), torch.randn(6)
    out = model(x)
    expected = fn(out, y[:, None])
    assert torch.allclose(model.training_step((x, y), 0), expected)
    assert torch.allclose(model.training_step((x, y[:, None]), 0), expected)

    wide = ANODEModule(_ode(), task="regression", num_outputs=2, feature_dim=3, loss=loss)
    y2 = torch.randn(6, 2)
    assert torch.allclose(wide.training_step((x, y2), 0), fn(wide(x), y2))
    with pytest.raises(ValueError, match=r"Regression targets must have shape .*\(6, 2\)"):
        wide.training_step((x, y), 0)


def test_regression_defaults_to_smooth_l1():
    assert ANODEModule(_ode(), task="regression").loss_name == "smooth_l1"
    assert ANODEModule(_ode()).loss_name == "cross_entropy"


def test_binary_classification_with_one_logit():
    torch.manual_seed(0)
    model = ANODEModule(_ode(), num_outputs=1, feature_dim=3)
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    logits = model(x)
    assert logits.shape == (8, 1)
    expected = F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    assert torch.allclose(model.training_step((x, y), 0), expected)


def test_readout_false_strips_the_augmented_dimensions():
    torch.manual_seed(0)
    ode = _ode(d=2, p=3)
    model = ANODEModule(ode, task="regression", num_outputs=2, readout=False)
    x = torch.randn(5, 2)
    assert torch.allclose(model(x), ode.features(x)[:, :2])


def test_readout_false_with_a_torchdyn_pipeline_and_a_plain_node():
    torch.manual_seed(0)
    field = MLPVectorField(3, 8)
    # torchdyn's Augmenter puts the zeros first by default: the last 2 are original.
    pipeline = nn.Sequential(
        TorchdynAugmenter(1, 1), NeuralODE(field, solver="rk4", return_t_eval=False)
    )
    model = ANODEModule(pipeline, task="regression", num_outputs=2, readout=False)
    x = torch.randn(4, 2)
    assert torch.allclose(model(x), pipeline(x)[-1][:, 1:])

    ours = nn.Sequential(Augmenter(1, 1, order="last"), NeuralODE(field, solver="rk4"))
    model = ANODEModule(ours, task="regression", num_outputs=2, readout=False)
    assert torch.allclose(model(x), ours(x)[1][-1][:, :2])

    plain = NeuralODE(MLPVectorField(2, 8), solver="rk4")
    model = ANODEModule(plain, task="regression", num_outputs=2, readout=False)
    assert torch.allclose(model(x), plain(x)[1][-1])
    with pytest.raises(ValueError, match="num_outputs=3"):
        ANODEModule(plain, task="regression", num_outputs=3, readout=False)(x)


def test_readout_false_refuses_ambiguous_augmenters():
    pipeline = nn.Sequential(Augmenter(1, 1), Augmenter(1, 1), NeuralODE(MLPVectorField(4)))
    with pytest.raises(
        ValueError,
        match=r"readout=False predicts the original coordinates of phi\(x\), .* 2 augmenters",
    ):
        ANODEModule(pipeline, readout=False)
    learned = TorchdynAugmenter(1, augment_func=nn.Linear(2, 1))
    with pytest.raises(ValueError, match="`augment_func`"):
        ANODEModule(nn.Sequential(learned, NeuralODE(MLPVectorField(3))), readout=False)


def test_readout_on_image_features():
    from anode_plugin import ConvVectorField

    torch.manual_seed(0)
    ode = AugmentedNeuralODE(ConvVectorField(1 + 2, 4), augment_dims=2, solver="rk4")
    model = ANODEModule(ode, num_outputs=10, feature_dim=3 * 5 * 5)
    assert model(torch.randn(2, 1, 5, 5)).shape == (2, 10)


def test_lazy_readout_without_datamodule_materialises_on_first_call(tmp_path):
    torch.manual_seed(0)
    model = ANODEModule(_ode(), num_outputs=2)
    x, y = torch.randn(32, 2), torch.randint(0, 2, (32,))
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    _trainer(tmp_path).fit(model, loader)
    assert model.head.weight.shape == (2, 3)


def test_checkpoint_reloads_with_an_inferred_feature_dim(tmp_path):
    torch.manual_seed(0)
    model = ANODEModule(_ode(), num_outputs=2)
    data = ConcentricSpheresDataModule(
        num_inner=16, num_outer=16, num_val=16, labels="classes", batch_size=16
    )
    trainer = _trainer(tmp_path, limit_val_batches=0)
    trainer.fit(model, data)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    reloaded = ANODEModule.load_from_checkpoint(path, ode=_ode())
    x = torch.randn(5, 2)
    model.eval(), reloaded.eval()
    assert torch.equal(reloaded(x), model(x))
    assert reloaded.hparams.num_outputs == 2 and "ode" not in reloaded.hparams


def test_optimizer_is_adam_with_the_given_options():
    model = ANODEModule(_ode(), feature_dim=3, lr=0.05, weight_decay=1e-4)
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.defaults["lr"] == 0.05 and optimizer.defaults["weight_decay"] == 1e-4


def test_bad_batches_are_refused():
    model = ANODEModule(_ode(), num_outputs=2, feature_dim=3)
    with pytest.raises(ValueError, match=r"ANODEModule expects batches `\(x, y\)`"):
        model.training_step(torch.randn(4, 2), 0)
    with pytest.raises(ValueError, match="Classification targets must be class indices"):
        model.training_step((torch.randn(4, 2), torch.tensor([0.5, 1.0, 0.0, 1.0])), 0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"task": "segmentation"}, ValueError, r"`task` must be one of \['classification'"),
        ({"num_outputs": 0}, ValueError, "`num_outputs` must be a positive integer, got 0"),
        ({"readout": "yes"}, ValueError, "`readout` must be True or False"),
        ({"feature_dim": -3}, ValueError, "`feature_dim` must be a positive integer"),
        ({"loss": "mse"}, ValueError, r"`loss` must be one of \['cross_entropy'\], got 'mse'"),
        ({"task": "regression", "loss": "l1"}, ValueError, r"\['smooth_l1', 'mse'\]"),
        ({"lr": 0.0}, ValueError, "`lr` must be a positive finite number, got 0.0"),
        ({"weight_decay": -1.0}, ValueError, "`weight_decay` must be a number >= 0"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        ANODEModule(_ode(), **kwargs)


def test_ode_must_be_a_module():
    with pytest.raises(TypeError, match=r"`ode` must be an nn\.Module, got function"):
        ANODEModule(lambda x: x)


def test_works_without_lightnings_private_cli_variable():
    # A Lightning release without the private `_given_hyperparameters` used to break
    # `import anode_plugin` (imported at import time); it is now read lazily.
    script = """
import sys, types
import lightning.pytorch.core.mixins.hparams_mixin as real
sys.modules[real.__name__] = types.ModuleType(real.__name__)  # the name is gone
import torch
from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.lightning import ANODEModule
ode = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
model = ANODEModule(ode, num_outputs=2, feature_dim=3)
assert "ode" not in model.hparams and model.hparams["num_outputs"] == 2
assert model(torch.randn(4, 2)).shape == (4, 2)
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_an_ode_block_returning_something_else_is_refused():
    class Broken(nn.Module):
        def forward(self, x):
            return {"sol": x}

    model = ANODEModule(Broken(), num_outputs=2, feature_dim=2)
    with pytest.raises(ValueError, match=r"`ode` must return `\(t_eval, sol\)` or `sol`"):
        model(torch.randn(4, 2))


def test_a_feature_dim_that_does_not_match_the_state_is_named():
    # It gave torch's "mat1 and mat2 shapes cannot be multiplied (8x3 and 7x2)".
    ode = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    module = ANODEModule(ode, task="classification", num_outputs=2, feature_dim=7)
    with pytest.raises(ValueError) as info:
        module.training_step((torch.randn(8, 2), torch.zeros(8, dtype=torch.long)), 0)
    assert str(info.value) == (
        "`feature_dim`=7, but the ODE block's final state has 3 entries per sample (shape "
        "(8, 3)): set feature_dim=3, or leave it out to infer it."
    )


@pytest.mark.parametrize(("num_outputs", "labels"), [(2, [0, 5]), (2, [-1, 1]), (1, [0, 2])])
def test_labels_outside_the_classes_are_named(num_outputs, labels):
    # It gave torch's "Target 5 is out of bounds" (a device-side assert on CUDA).
    ode = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    module = ANODEModule(ode, task="classification", num_outputs=num_outputs)
    y = torch.tensor(labels)
    classes = max(num_outputs, 2)
    with pytest.raises(ValueError) as info:
        module.training_step((torch.randn(2, 2), y), 0)
    assert str(info.value) == (
        f"Classification targets must be class indices 0 to {classes - 1} (num_outputs="
        f"{num_outputs}), got values from {min(labels)} to {max(labels)}: set num_outputs to "
        "the number of classes."
    )
