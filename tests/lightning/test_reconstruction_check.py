"""ReconstructionCheck: logged each validation epoch, uncounted, resumable, picklable."""

from __future__ import annotations

import csv
import math
import pickle

import lightning.pytorch as pl
import pytest
import torch
from helpers import quiet_trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torchdyn.core import NeuralODE

import anode_plugin.lightning
from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.datasets import ConcentricSpheresDataModule
from anode_plugin.lightning import ANODEModule, NFECallback, ReconstructionCheck
from anode_plugin.testing import TOLERANCE_LADDER, loosest_passing_tolerance, reconstruction_error

KEYS = ("reconstruction/error", "reconstruction/error_mean", "reconstruction/loosest_tolerance")


def _data() -> ConcentricSpheresDataModule:
    return ConcentricSpheresDataModule(
        num_inner=32, num_outer=32, num_val=32, num_test=32, labels="classes", batch_size=16
    )


def _module(ode=None, feature_dim: int = 3) -> ANODEModule:
    torch.manual_seed(0)
    if ode is None:
        ode = AugmentedNeuralODE(MLPVectorField(3, 8), augment_dims=1)
    return ANODEModule(ode, num_outputs=2, feature_dim=feature_dim)


def _trainer(tmp_path, callbacks, **kwargs) -> pl.Trainer:
    options = {"max_epochs": 2, "num_sanity_val_steps": 0, **kwargs}
    return quiet_trainer(tmp_path, callbacks=callbacks, **options)


def test_logged_each_validation_epoch_into_metrics_and_csv(tmp_path):
    check = ReconstructionCheck(num_samples=8, ladder=TOLERANCE_LADDER)
    logger = CSVLogger(tmp_path, name="run")
    trainer = _trainer(tmp_path, [check], logger=logger, num_sanity_val_steps=2)
    module, data = _module(), _data()
    trainer.fit(module, data)

    assert [entry["epoch"] for entry in check.history] == [0, 1]  # no sanity-check entry
    last = check.history[-1]
    for key in KEYS:
        assert key in trainer.callback_metrics
    assert trainer.callback_metrics["reconstruction/error"].item() == pytest.approx(last["error"])
    assert last["loosest_tolerance"] in TOLERANCE_LADDER

    # The figures are those of the first 8 inputs of the first validation batch.
    x = next(iter(data.val_dataloader()))[0][:8]
    report = reconstruction_error(module.ode, x)
    assert last["error"] == pytest.approx(report.max)
    assert last["error_mean"] == pytest.approx(report.mean)
    assert last["loosest_tolerance"] == loosest_passing_tolerance(module.ode, x)

    with open(logger.log_dir + "/metrics.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("reconstruction/error")]
    assert len(rows) == 2
    assert float(rows[-1]["reconstruction/error"]) == pytest.approx(last["error"])
    # Loggers get float32 figures.
    assert float(rows[-1]["reconstruction/loosest_tolerance"]) == pytest.approx(
        last["loosest_tolerance"]
    )


def test_without_a_ladder_only_the_error_is_logged(tmp_path):
    check = ReconstructionCheck(num_samples=4)
    trainer = _trainer(tmp_path, [check], max_epochs=1)
    trainer.fit(_module(), _data())
    assert "reconstruction/error" in trainer.callback_metrics
    assert "reconstruction/loosest_tolerance" not in trainer.callback_metrics
    assert check.history[0]["loosest_tolerance"] is None
    assert 0 < check.history[0]["error"] < 1


def test_nfe_records_are_unchanged_by_the_check(tmp_path):
    def run(callbacks):
        nfe = NFECallback()
        trainer = _trainer(tmp_path, [nfe, *callbacks])
        trainer.fit(_module(), _data())
        return nfe.history.as_dicts(), float(trainer.callback_metrics["val/nfe/forward"])

    checked = run([ReconstructionCheck(num_samples=8, ladder=TOLERANCE_LADDER)])
    assert checked == run([])


def test_state_resumes_and_pickles(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first = ReconstructionCheck(num_samples=4, ladder=(1e-3, 1e-5))
    _trainer(tmp_path, [first, checkpoint], max_epochs=1, enable_checkpointing=True).fit(
        _module(), _data()
    )
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["callbacks"]
    assert saved[first.state_key] == first.state_dict()
    assert len(first.history) == 1

    resumed = ReconstructionCheck(num_samples=4, ladder=(1e-3, 1e-5))
    _trainer(tmp_path, [resumed]).fit(_module(), _data(), ckpt_path=tmp_path / "last.ckpt")
    assert [entry["epoch"] for entry in resumed.history] == [0, 1]
    assert resumed.history[0] == first.history[0]

    copy = pickle.loads(pickle.dumps(resumed))
    assert copy.state_dict() == resumed.state_dict()
    assert (copy.num_samples, copy.ladder, copy.threshold) == (4, (1e-3, 1e-5), 1e-2)


def test_nothing_passing_logs_nan(tmp_path):
    check = ReconstructionCheck(num_samples=4, ladder=(1e-3,), threshold=1e-12)
    trainer = _trainer(tmp_path, [check], max_epochs=1)
    trainer.fit(_module(), _data())
    assert math.isnan(trainer.callback_metrics["reconstruction/loosest_tolerance"].item())
    assert check.history[0]["loosest_tolerance"] is None


def test_warns_without_an_augmented_neural_ode(tmp_path):
    torch.manual_seed(0)
    check = ReconstructionCheck()
    trainer = _trainer(tmp_path, [check], max_epochs=1)
    with pytest.warns(UserWarning, match="ReconstructionCheck found no AugmentedNeuralODE"):
        trainer.fit(_module(NeuralODE(MLPVectorField(2, 8)), feature_dim=2), _data())
    assert check.history == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_samples": 0}, "num_samples"),
        ({"ladder": ()}, "`ladder` must be a non-empty sequence"),
        ({"ladder": (1e-5, 1e-3)}, "strictly decreasing"),
        ({"threshold": 0}, "`threshold` must be a positive finite number"),
        ({"prog_bar": 1}, "`prog_bar` must be True or False"),
    ],
)
def test_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReconstructionCheck(**kwargs)


def test_exported():
    assert anode_plugin.lightning.ReconstructionCheck is ReconstructionCheck
