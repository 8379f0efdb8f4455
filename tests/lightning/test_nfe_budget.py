"""NFEBudget: stopping, raising or warning when a step's evaluations exceed a budget."""

from __future__ import annotations

import re

import pytest
import torch
from helpers import callback_trainer, spheres_anode, spheres_data
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from anode_plugin import NFEBudgetExceeded
from anode_plugin.lightning import ANODEModule, NFEBudget, NFECallback


def test_budget_stop_finishes_the_step_saves_and_stops(tmp_path):
    torch.manual_seed(0)
    budget = NFEBudget(max_forward=2)
    nfe = NFECallback()
    logger = CSVLogger(tmp_path, name="run")
    trainer = callback_trainer(tmp_path, [nfe, budget], max_epochs=3, logger=logger)
    with pytest.warns(
        UserWarning,
        match=(
            r"needed \d+ forward evaluations of the vector"
            r" field, over NFEBudget\(max_forward=2\)"
        ),
    ) as caught:
        trainer.fit(spheres_anode(), spheres_data())
    assert trainer.global_step == 1 and len(nfe.history) == 1  # the step was finished
    assert budget.exceeded_steps == [1]
    path = budget.checkpoint_path
    # Lightning's layout: the logger's run folder, then checkpoints/.
    assert path == str(
        tmp_path / "run" / "version_0" / "checkpoints" / "nfe-budget-epoch=0-step=1.ckpt"
    )
    assert any(path in str(w.message) for w in caught)
    assert not list((tmp_path / "run").rglob(".*partial*"))  # renamed when complete
    state = torch.load(path, weights_only=False)
    assert state["global_step"] == 1
    model = ANODEModule.load_from_checkpoint(path, ode=spheres_anode().ode)
    assert model.head.in_features == 3


def test_budget_stop_without_checkpointing_or_logger_writes_nothing(tmp_path, monkeypatch):
    # It wrote checkpoints/nfe-budget-epoch=0-step=1.ckpt into the working directory.
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    budget = NFEBudget(max_forward=2)
    # The working directory is the run's root (Lightning's default_root_dir default).
    trainer = callback_trainer(tmp_path, [budget], max_epochs=3)
    with pytest.warns(
        UserWarning, match="No checkpoint was saved: checkpointing is off and there is no logger"
    ):
        trainer.fit(spheres_anode(), spheres_data())
    assert trainer.global_step == 1 and budget.checkpoint_path is None
    assert list(tmp_path.iterdir()) == []


def test_budget_stop_saves_into_the_model_checkpoint_dir(tmp_path):
    torch.manual_seed(0)
    budget = NFEBudget(max_forward=2)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpts")
    trainer = callback_trainer(tmp_path, [budget, checkpoint], enable_checkpointing=True)
    with pytest.warns(UserWarning, match="Stopping training"):
        trainer.fit(spheres_anode(), spheres_data())
    assert budget.checkpoint_path.startswith(str(tmp_path / "ckpts"))


def test_budget_raise(tmp_path):
    torch.manual_seed(0)
    trainer = callback_trainer(tmp_path, [NFEBudget(max_forward=2, on_exceed="raise")])
    with pytest.raises(
        NFEBudgetExceeded, match=r"Training step 1 .* over NFEBudget\(max_forward=2\)"
    ):
        trainer.fit(spheres_anode(), spheres_data())
    assert trainer.global_step == 1


def test_budget_raise_on_backward_evaluations(tmp_path):
    torch.manual_seed(0)
    budget = NFEBudget(max_forward=10_000, max_backward=2, on_exceed="raise")
    with pytest.raises(NFEBudgetExceeded, match=r"backward evaluations.*max_backward=2") as info:
        callback_trainer(tmp_path, [budget]).fit(spheres_anode("adjoint"), spheres_data())
    assert info.value.budget == 2 and info.value.nfe > 2


def test_budget_warn_goes_on(tmp_path):
    torch.manual_seed(0)
    budget = NFEBudget(max_forward=2, on_exceed="warn")
    trainer = callback_trainer(tmp_path, [budget], max_epochs=2)
    with pytest.warns(UserWarning) as caught:
        trainer.fit(spheres_anode(), spheres_data())
    messages = [str(w.message) for w in caught]
    assert sum("Training goes on" in m for m in messages) == 1
    assert any(re.search(r"8 training steps went over the NFE budget", m) for m in messages)
    assert trainer.global_step == 8 and budget.exceeded_steps == list(range(1, 9))


def test_budget_within_limits_does_nothing(tmp_path):
    torch.manual_seed(0)
    budget = NFEBudget(max_forward=10_000, max_backward=10_000)
    trainer = callback_trainer(tmp_path, [budget])
    trainer.fit(spheres_anode("adjoint"), spheres_data())
    assert trainer.global_step == 4 and budget.exceeded_steps == []
    assert budget.checkpoint_path is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_forward": 0}, "`max_forward` must be a positive integer, got 0"),
        ({"max_forward": 10, "max_backward": -1}, "`max_backward` must be a positive integer"),
        ({"max_forward": 10, "on_exceed": "halt"}, r"`on_exceed` must be one of \['stop', 'raise'"),
    ],
)
def test_budget_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NFEBudget(**kwargs)
