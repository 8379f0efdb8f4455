"""NFECallback: NFE figures per step, their history, step statistics, state and pickling."""

from __future__ import annotations

import csv
import json
import math
import pickle

import lightning.pytorch as pl
import pytest
import torch
from helpers import callback_trainer, in_backward_pass, spheres_anode, spheres_data
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torchdyn.core import NeuralODE
from torchdyn.nn import Augmenter as TorchdynAugmenter

import anode_plugin
from anode_plugin import AugmentedNeuralODE, MLPVectorField, NFERecord
from anode_plugin.lightning import ANODEModule, NFEBudget, NFECallback, NFEHistory, NFEStep
from anode_plugin.lightning._nfe_callback import step_loss

STEP_KEYS = {"nfe/forward", "nfe/backward", "nfe/total"}


class ModelRecords(Callback):
    """Reads the ODE blocks' own counts after each batch (runs after NFECallback)."""

    def __init__(self, read, reset=None):
        self.read = read
        self.reset = reset
        self.train: list[NFERecord] = []
        self.val: list[NFERecord] = []
        self.test: list[NFERecord] = []
        self.logged: list[dict[str, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.reset is not None:
            self.reset()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train.append(self.read(pl_module))
        metrics = trainer.callback_metrics
        self.logged.append({k: float(metrics[k]) for k in STEP_KEYS if k in metrics})

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *_):
        if not trainer.sanity_checking:
            self.val.append(self.read(pl_module))

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *_):
        self.test.append(self.read(pl_module))


def _assert_history_matches(history: NFEHistory, records: list[NFERecord]) -> None:
    assert len(history) == len(records) > 0
    for step, record in zip(history, records, strict=True):
        assert (step.nfe_forward, step.nfe_backward, step.nfe_total) == (
            record.forward,
            record.backward,
            record.total,
        )


@pytest.mark.parametrize("sensitivity", ["autograd", "adjoint"])
def test_figures_equal_the_models_own_records(tmp_path, sensitivity):
    torch.manual_seed(0)
    model = spheres_anode(sensitivity)
    nfe, records = NFECallback(), ModelRecords(lambda m: m.ode.nfe)
    trainer = callback_trainer(tmp_path, [nfe, records], max_epochs=2)
    trainer.fit(model, spheres_data())
    _assert_history_matches(nfe.history, records.train)
    assert [s.global_step for s in nfe.history] == list(range(1, 9))
    assert [s.epoch for s in nfe.history] == [0] * 4 + [1] * 4
    assert all(s.loss > 0 for s in nfe.history)
    # What was logged at each step is the step's own record.
    for logged, record in zip(records.logged, records.train, strict=True):
        assert logged == {
            "nfe/forward": record.forward,
            "nfe/backward": record.backward,
            "nfe/total": record.total,
        }
    if sensitivity == "adjoint":
        assert all(s.nfe_backward > 0 for s in nfe.history)
    else:
        assert all(s.nfe_backward == 0 for s in nfe.history)
    val = [r.forward for r in records.val[-2:]]  # the last epoch's two batches
    assert trainer.callback_metrics["val/nfe/forward"].item() == pytest.approx(sum(val) / 2)

    results = trainer.test(model, spheres_data(), verbose=False)[0]
    mean = sum(r.forward for r in records.test) / len(records.test)
    assert results["test/nfe/forward"] == pytest.approx(mean)


class SelfCountingField(nn.Module):
    """A torchdyn-style field that counts its own calls, forward and backward apart."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, 8), nn.Tanh(), nn.Linear(8, dim))
        self.forward_calls = 0
        self.backward_calls = 0

    def forward(self, t, x, args=None):
        if in_backward_pass():
            self.backward_calls += 1
        else:
            self.forward_calls += 1
        return self.net(x)


def test_plain_torchdyn_pipeline_is_split_into_forward_and_backward(tmp_path):
    torch.manual_seed(0)
    field = SelfCountingField(3)
    node = NeuralODE(field, solver="dopri5", sensitivity="adjoint", return_t_eval=False)
    model = ANODEModule(nn.Sequential(TorchdynAugmenter(1, 1), node), num_outputs=2)

    def reset():
        field.forward_calls = field.backward_calls = 0

    nfe = NFECallback()
    records = ModelRecords(lambda _: NFERecord(field.forward_calls, field.backward_calls), reset)
    trainer = callback_trainer(tmp_path, [nfe, records], limit_val_batches=0)
    trainer.fit(model, spheres_data())  # feature_dim inferred: one more solve at setup
    _assert_history_matches(nfe.history, records.train)
    assert all(s.nfe_backward > 0 and s.nfe_forward > 0 for s in nfe.history)
    assert node.vf.nfe == nfe.history[-1].nfe_total  # reset at each batch start


def test_blocks_are_summed(tmp_path):
    torch.manual_seed(0)
    first = AugmentedNeuralODE(MLPVectorField(3, 8), augment_dims=1, return_t_eval=False)
    second = NeuralODE(MLPVectorField(3, 8), solver="rk4", return_t_eval=False)
    model = ANODEModule(nn.Sequential(first, _Last(), second), num_outputs=2, feature_dim=3)
    assert anode_plugin.lightning.find_ode_blocks(model) == [first, second]
    nfe = NFECallback()
    records = ModelRecords(lambda m: first.nfe + NFERecord(int(second.vf.nfe), 0))
    callback_trainer(tmp_path, [nfe, records], limit_val_batches=0).fit(model, spheres_data())
    _assert_history_matches(nfe.history, records.train)
    assert second.vf.nfe == 4  # one rk4 step over the last batch
    assert all(s.nfe_forward > 4 for s in nfe.history)


class _Last(nn.Module):
    def forward(self, sol):
        return sol[-1]


def test_logs_every_n_steps_but_keeps_every_step(tmp_path):
    torch.manual_seed(0)
    nfe = NFECallback(log_every_n_steps=2, prog_bar=False)
    logger = CSVLogger(tmp_path)
    trainer = callback_trainer(tmp_path, [nfe], logger=logger, log_every_n_steps=1, max_epochs=2)
    trainer.fit(spheres_anode(), spheres_data())
    assert len(nfe.history) == 8
    with open(f"{logger.log_dir}/metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("nfe/forward")]
    # Every second step, at the logger's 0-based step, with no stale rows in between.
    assert [int(r["step"]) for r in rows] == [1, 3, 5, 7]
    assert [float(r["nfe/forward"]) for r in rows] == [s.nfe_forward for s in nfe.history[1::2]]
    assert {k for k in rows[0] if rows[0][k]} >= STEP_KEYS


def test_history_writes_csv_and_json_and_round_trips(tmp_path):
    history = NFEHistory([NFEStep(1, 0, 0.5, 20.0, 3.0, 23.0), NFEStep(2, 0, 0.4, 26.0, 0, 26.0)])
    history.to_csv(tmp_path / "nfe.csv")
    history.to_json(tmp_path / "nfe.json")
    with open(tmp_path / "nfe.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "global_step",
        "epoch",
        "loss",
        "nfe_forward",
        "nfe_backward",
        "nfe_total",
        "steps_accepted",
        "steps_rejected",
    ]
    assert [float(r["nfe_total"]) for r in rows] == [23.0, 26.0]
    # A history saved before step statistics existed still loads.
    old = [{k: v for k, v in row.items() if not k.startswith("steps")} for row in rows]
    assert NFEHistory.from_dicts(old)[0].steps_accepted == 0.0
    with open(tmp_path / "nfe.json") as handle:
        assert NFEHistory.from_dicts(json.load(handle)).as_dicts() == history.as_dicts()


def test_state_resumes_and_pickles(tmp_path):
    torch.manual_seed(0)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first = NFECallback()
    callback_trainer(tmp_path, [first, checkpoint], enable_checkpointing=True).fit(
        spheres_anode(), spheres_data()
    )
    assert len(first.history) == 4
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["callbacks"]
    assert saved[first.state_key] == first.state_dict()

    resumed = NFECallback()
    trainer = callback_trainer(tmp_path, [resumed], max_epochs=2)
    trainer.fit(spheres_anode(), spheres_data(), ckpt_path=tmp_path / "last.ckpt")
    assert len(resumed.history) == 8
    assert resumed.history[:4] == first.history[:4]
    assert [s.global_step for s in resumed.history] == list(range(1, 9))

    for callback in (resumed, NFEBudget(100)):
        copy = pickle.loads(pickle.dumps(callback))
        assert copy.state_dict() == callback.state_dict()


def test_sanity_check_is_skipped(tmp_path):
    torch.manual_seed(0)
    nfe, records = NFECallback(), ModelRecords(lambda m: m.ode.nfe)
    trainer = callback_trainer(tmp_path, [nfe, records], num_sanity_val_steps=2)
    trainer.fit(spheres_anode(), spheres_data())
    assert len(records.val) == 2  # the real validation batches only
    mean = sum(r.forward for r in records.val) / 2
    assert trainer.callback_metrics["val/nfe/forward"].item() == pytest.approx(mean)


def test_warns_when_the_model_has_no_ode_block(tmp_path):
    class NoODE(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 2)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = spheres_data()
    with pytest.warns(
        UserWarning, match="NFECallback found no AugmentedNeuralODE or torchdyn NeuralODE"
    ):
        callback_trainer(tmp_path, [NFECallback()], limit_val_batches=0).fit(NoODE(), data)


def test_nfe_callback_arguments_are_checked():
    with pytest.raises(ValueError, match="`log_every_n_steps` must be a positive integer, got 0"):
        NFECallback(log_every_n_steps=0)
    with pytest.raises(ValueError, match="`prog_bar` must be True or False"):
        NFECallback(prog_bar="yes")


def test_step_statistics_are_logged_and_kept(tmp_path):
    torch.manual_seed(0)
    nfe = NFECallback()
    logger = CSVLogger(tmp_path, name="run")
    model = ANODEModule(
        AugmentedNeuralODE(MLPVectorField(3, 8), augment_dims=1, sensitivity="adjoint"),
        num_outputs=2,
    )
    steps = []

    class Steps(Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            steps.append(pl_module.ode.steps)

    trainer = callback_trainer(tmp_path, [nfe, Steps()], logger=logger, limit_val_batches=0)
    trainer.fit(model, spheres_data())
    assert [(s.steps_accepted, s.steps_rejected) for s in nfe.history] == [
        (float(r.accepted), float(r.rejected)) for r in steps
    ]
    assert all(r.forward_accepted > 0 and r.backward_accepted > 0 for r in steps)
    assert trainer.callback_metrics["steps/accepted"] == steps[-1].accepted
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("steps/accepted")]
    assert [float(r["steps/accepted"]) for r in rows] == [float(r.accepted) for r in steps]
    assert [float(r["steps/rejected"]) for r in rows] == [float(r.rejected) for r in steps]


def test_per_sample_figures_are_the_epochs_distribution(tmp_path):
    # torchode steps each input on its own: the per-sample NFE differ between inputs.
    torch.manual_seed(0)
    ode = AugmentedNeuralODE(
        MLPVectorField(3, 8), augment_dims=1, backend="torchode", atol=1e-6, rtol=1e-6
    )
    model = ANODEModule(ode, num_outputs=2, feature_dim=3)
    seen: list[torch.Tensor] = []

    class TrainingRecords(Callback):  # runs after NFECallback, before the next reset
        def on_train_batch_end(self, trainer, pl_module, *args):
            seen.append(pl_module.ode.stats.per_sample.nfe)

    nfe = NFECallback()
    trainer = callback_trainer(tmp_path, [nfe, TrainingRecords()], max_epochs=2)
    trainer.fit(model, spheres_data())
    assert len(nfe.per_sample_history) == 2
    for epoch, figures in enumerate(nfe.per_sample_history):
        counts = torch.cat(seen[4 * epoch : 4 * epoch + 4]).double()
        assert counts.shape == (64,) and len(set(counts.tolist())) > 1  # inputs differ
        assert figures == {
            "epoch": epoch,
            "mean": pytest.approx(float(counts.mean())),
            "p90": pytest.approx(float(torch.quantile(counts, 0.9))),
            "max": float(counts.max()),
        }
    logged = trainer.callback_metrics
    last = nfe.per_sample_history[-1]
    for name in ("mean", "p90", "max"):
        assert logged[f"nfe/per_sample/{name}"].item() == pytest.approx(last[name])
    # The figures are kept in checkpoints; older checkpoints without them still load.
    restored = NFECallback()
    restored.load_state_dict(nfe.state_dict())
    assert restored.per_sample_history == nfe.per_sample_history
    restored.load_state_dict({"history": nfe.state_dict()["history"]})
    assert restored.per_sample_history == []


def test_per_sample_figures_of_joint_backends_are_the_batch_figures(tmp_path):
    torch.manual_seed(0)
    nfe, records = NFECallback(), ModelRecords(lambda m: m.ode.nfe)
    trainer = callback_trainer(tmp_path, [nfe, records], max_epochs=1, limit_val_batches=0)
    trainer.fit(spheres_anode(), spheres_data())
    forward = torch.tensor([float(r.forward) for r in records.train]).repeat_interleave(16)
    figures = nfe.per_sample_history[0]
    assert figures["max"] == float(forward.max())
    assert figures["mean"] == pytest.approx(float(forward.mean()))


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (torch.tensor(0.25), 0.25),
        ({"loss": torch.tensor(1.5)}, 1.5),
        (2.5, 2.5),
        ({"loss": 0.75}, 0.75),
    ],
)
def test_a_steps_loss_is_read_from_a_tensor_or_a_number(outputs, expected):
    assert step_loss(outputs) == expected


@pytest.mark.parametrize("outputs", [None, {}, {"loss": None}, True])
def test_a_step_without_a_loss_reads_as_nan(outputs):
    assert math.isnan(step_loss(outputs))
