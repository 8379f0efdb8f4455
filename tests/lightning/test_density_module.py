"""DensityModule and the density data: the logged contract, bits per dimension, the data."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
from helpers import quiet_trainer

from anode_plugin import AugmentedCNF, MLPVectorField
from anode_plugin.datasets import (
    DENSITIES,
    DIGITS_BIN_WIDTH,
    DensityDataModule,
    bits_per_dim,
    density_samples,
)
from anode_plugin.lightning import DensityModule, NFECallback


def _trainer(tmp_path, **kwargs) -> pl.Trainer:
    return quiet_trainer(tmp_path, **{"limit_train_batches": 3, "limit_val_batches": 2, **kwargs})


def test_density_module_logs_nll_and_its_val_nll_is_the_plain_cnf_nll(tmp_path):
    torch.manual_seed(0)
    flow = AugmentedCNF(MLPVectorField(2, 16, activation="tanh"), 2, 0)
    module = DensityModule(flow, lr=1e-2)
    data = DensityDataModule("two_moons", n_train=256, n_val=128, batch_size=64)
    nfe = NFECallback()
    trainer = _trainer(tmp_path, callbacks=[nfe])
    trainer.fit(module, data)
    metrics = trainer.callback_metrics
    assert {"train/nll_step", "train/nll_epoch", "val/nll", "nfe/forward"} <= set(metrics)
    assert not any("bits_per_dim" in key for key in metrics)
    assert len(nfe.history) == 3
    val = torch.cat([batch[0] for batch in data.val_dataloader()])
    with torch.no_grad():
        expected = -flow.log_prob(val).mean()
    torch.testing.assert_close(metrics["val/nll"], expected, rtol=1e-5, atol=1e-5)


def test_density_module_logs_bits_per_dim_of_dequantised_digits(tmp_path):
    torch.manual_seed(0)
    flow = AugmentedCNF(
        MLPVectorField(66, 16, activation="tanh"), 64, 2, q="learned", trace="hutchinson"
    )
    module = DensityModule(flow, bin_width=DIGITS_BIN_WIDTH, eval_samples=2)
    data = DensityDataModule("digits", n_train=64, n_val=32, batch_size=32)
    trainer = _trainer(tmp_path, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(module, data)
    metrics = trainer.callback_metrics
    for key in ("train/nll_step", "train/bits_per_dim_step", "val/nll", "val/bits_per_dim"):
        assert key in metrics, key
    expected = bits_per_dim(metrics["val/nll"], 64, DIGITS_BIN_WIDTH)
    torch.testing.assert_close(metrics["val/bits_per_dim"], expected, rtol=1e-4, atol=1e-4)
    trainer.test(module, data.val_dataloader(), verbose=False)
    assert "test/nll" in trainer.callback_metrics
    assert module.sample(3).shape == (3, 64)


@pytest.mark.parametrize("augmentation", ["variational", "exact"])
def test_density_module_trains_by_flow_matching_and_validates_by_likelihood(tmp_path, augmentation):
    torch.manual_seed(0)
    out = 2 if augmentation == "exact" else 4
    flow = AugmentedCNF(
        MLPVectorField(4, 16, out_dim=out, activation="tanh"), 2, 2, augmentation=augmentation
    )
    module = DensityModule(flow, lr=1e-2, objective="flow_matching", sigma=0.01)
    data = DensityDataModule("two_moons", n_train=256, n_val=128, batch_size=64)
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(module, data)
    metrics = trainer.callback_metrics
    assert {"train/flow_matching_loss_step", "train/flow_matching_loss_epoch", "val/nll"} <= set(
        metrics
    )
    assert not any(key.startswith("train/nll") for key in metrics)
    assert float(metrics["train/flow_matching_loss_epoch"]) > 0
    assert module.hparams.objective == "flow_matching"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"objective": "score"}, r"`objective` must be one of \['likelihood', 'flow_matching'\]"),
        ({"coupling": "sinkhorn"}, r"`coupling` must be one of \['independent', 'ot'\]"),
        ({"sigma": -1.0}, r"`sigma` must be a non-negative float, got -1.0"),
        (
            {"sigma": 0.5},
            r"`sigma` and `coupling` are flow matching's: they need objective='flow_matching', "
            r"got objective='likelihood' with sigma=0.5, coupling='independent'",
        ),
        ({"coupling": "ot"}, r"`sigma` and `coupling` are flow matching's: .* coupling='ot'"),
    ],
)
def test_density_module_refuses_bad_objective_options(kwargs, match):
    flow = AugmentedCNF(MLPVectorField(2, 8), 2, 0)
    with pytest.raises(ValueError, match=match):
        DensityModule(flow, **kwargs)


def test_a_checkpoint_reloads_with_its_flow(tmp_path):
    def flow():
        return AugmentedCNF(MLPVectorField(3, 8, activation="tanh"), 2, 1, q="learned")

    torch.manual_seed(0)
    module = DensityModule(flow(), lr=5e-3, eval_samples=3)
    trainer = _trainer(tmp_path, limit_train_batches=2)
    trainer.fit(module, DensityDataModule("eight_gaussians", n_train=64, n_val=32, batch_size=32))
    trainer.save_checkpoint(tmp_path / "flow.ckpt")
    loaded = DensityModule.load_from_checkpoint(tmp_path / "flow.ckpt", flow=flow())
    assert (loaded.lr, loaded.eval_samples) == (5e-3, 3)
    for a, b in zip(module.flow.parameters(), loaded.flow.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_bits_per_dim_accounts_for_the_bin_width():
    # A uniform density on the bins is worth log2(levels) bits: nll = D log(bin) ...
    dims, width = 64, 0.25
    assert bits_per_dim(dims * math.log(width), dims, width) == pytest.approx(0.0)
    assert bits_per_dim(dims * math.log(2), dims, 1.0) == pytest.approx(1.0)


def test_density_module_refuses_a_model_that_is_not_a_flow():
    with pytest.raises(
        TypeError, match=r"`flow` must be an anode_plugin\.AugmentedCNF, got Linear"
    ):
        DensityModule(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("name", sorted(DENSITIES))
def test_toy_densities_are_seeded_and_two_dimensional(name):
    a, b = density_samples(name, 300, seed=3), density_samples(name, 300, seed=3)
    assert a.shape == (300, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, density_samples(name, 300, seed=4))
    assert float(a.abs().max()) < 5


def test_digits_are_dequantised_into_their_bins():
    data = DensityDataModule("digits", n_val=100, batch_size=2000)
    data.setup()
    (val,) = next(iter(data.val_dataloader()))
    (train,) = next(iter(data.train_dataloader()))
    assert val.shape == (100, 64) and train.shape == (1697, 64) and data.dims == 64
    for x in (val, train):
        assert float(x.min()) >= -2.0 and float(x.max()) < 2.0
        counts = (x + 2.0) / DIGITS_BIN_WIDTH
        assert float((counts - counts.floor()).std()) > 0.2  # uniform noise inside the bins
    assert data.bin_width == DIGITS_BIN_WIDTH
    assert DensityDataModule("two_moons").bin_width is None


def test_density_data_refuses_an_unknown_name():
    with pytest.raises(ValueError, match=r"`name` must be one of \['two_moons', "):
        DensityDataModule("spirals")


def test_the_anode_cli_trains_a_density_config_and_logs_the_nll(tmp_path):
    import csv
    from pathlib import Path

    from anode_plugin.lightning._cli import main

    config = Path(__file__).resolve().parents[2] / "examples" / "configs" / "cnf_two_moons.yaml"
    main(
        [
            "fit",
            "--config",
            str(config),
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.log_every_n_steps",
            "1",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--data.init_args.n_train",
            "128",
            "--data.init_args.n_val",
            "64",
            "--data.init_args.batch_size",
            "64",
        ]
    )
    (metrics,) = tmp_path.glob("lightning_logs/version_*/metrics.csv")
    columns = next(csv.reader(metrics.open()))
    assert {"train/nll_step", "train/nll_epoch", "val/nll", "nfe/forward"} <= set(columns)
