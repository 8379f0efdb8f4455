"""Failures during training stop cleanly and lose nothing: non-finite losses, failed solves,
and a training process killed with SIGKILL mid-epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from helpers import quiet_trainer

from anode_plugin import AugmentedNeuralODE, MLPVectorField, NFEBudgetExceeded
from anode_plugin.datasets import ConcentricSpheresDataModule
from anode_plugin.lightning import ANODEModule, FailureGuard


def _trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    # Lightning's own max_epochs unless a test gives one: the tests stop the fits.
    return quiet_trainer(tmp_path, **{"max_epochs": None, **kwargs})


class _LossTurnsNaN(ANODEModule):
    """Its loss becomes NaN at global step ``bad_step``."""

    bad_step = 3

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        if self.global_step == self.bad_step:
            return loss * float("nan")
        return loss


def _module(cls=ANODEModule, **ode_kwargs):
    torch.manual_seed(0)
    ode = AugmentedNeuralODE(MLPVectorField(3, 16), augment_dims=1, **ode_kwargs)
    return cls(ode, num_outputs=2, feature_dim=3, lr=1e-2)


def _data():
    return ConcentricSpheresDataModule(
        num_inner=64, num_outer=64, num_val=32, num_test=32, labels="classes", batch_size=16
    )


def test_non_finite_loss_skips_the_update_saves_a_checkpoint_and_stops(tmp_path):
    guard = FailureGuard()
    weights: dict[int, dict[str, torch.Tensor]] = {}

    class Recorder(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            weights[trainer.global_step] = {k: v.clone() for k, v in pl_module.state_dict().items()}

    model = _module(_LossTurnsNaN)
    with pytest.warns(UserWarning, match="The training loss became non-finite at step 3"):
        _trainer(tmp_path, max_epochs=3, callbacks=[guard, Recorder()]).fit(model, _data())

    assert guard.checkpoint_path is not None
    assert Path(guard.checkpoint_path).name == "non-finite-loss-epoch=0-step=3.ckpt"
    saved = torch.load(guard.checkpoint_path, weights_only=False)["state_dict"]
    # The NaN step changed nothing: the saved and final weights are those before it.
    for key, value in weights[3].items():
        assert torch.equal(saved[key], value), key
        assert torch.equal(model.state_dict()[key], value), key
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    assert max(weights) == 3  # no step ran after the stop


def test_solver_error_saves_a_checkpoint_and_names_it_in_the_error(tmp_path):
    guard = FailureGuard()
    model = _module(max_nfe=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(NFEBudgetExceeded) as caught:
        _trainer(tmp_path, max_epochs=1, callbacks=[guard]).fit(model, _data())
    assert guard.checkpoint_path is not None
    assert Path(guard.checkpoint_path).name == "solver-error-epoch=0-step=0.ckpt"
    assert any(guard.checkpoint_path in note for note in getattr(caught.value, "__notes__", []))
    saved = torch.load(guard.checkpoint_path, weights_only=False)["state_dict"]
    for key, value in before.items():
        assert torch.equal(saved[key], value), key


def _config(root: Path, epochs: int) -> dict:
    return {
        "seed_everything": 0,
        "model": {
            "ode": {
                "class_path": "anode_plugin.AugmentedNeuralODE",
                "init_args": {
                    "augment_dims": 1,
                    "vector_field": {
                        "class_path": "anode_plugin.MLPVectorField",
                        "init_args": {"dim": 3, "hidden_dim": 16},
                    },
                },
            },
            "num_outputs": 2,
            "feature_dim": 3,
            "lr": 0.01,
        },
        "data": {
            "class_path": "anode_plugin.datasets.ConcentricSpheresDataModule",
            # Epochs long enough (about a second) for the kill to land inside one.
            "init_args": {
                "num_inner": 1024,
                "num_outer": 1024,
                "num_val": 64,
                "labels": "classes",
                "batch_size": 16,
            },
        },
        "trainer": {
            "max_epochs": epochs,
            "default_root_dir": str(root),
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
        },
    }


def _anode(config: Path, *extra: str, wait: bool = True):
    command = [sys.executable, "-m", "anode_plugin.lightning._cli", "fit", "--config", str(config)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    if wait:
        done = subprocess.run(
            [*command, *extra], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done
    return subprocess.Popen(
        [*command, *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_result(tmp_path):
    epochs = 3
    killed_dir, straight_dir = tmp_path / "killed", tmp_path / "straight"
    killed_cfg, straight_cfg = tmp_path / "killed.yaml", tmp_path / "straight.yaml"
    killed_cfg.write_text(yaml.safe_dump(_config(killed_dir, epochs)))
    straight_cfg.write_text(yaml.safe_dump(_config(straight_dir, epochs)))

    last = killed_dir / "checkpoints" / "last.ckpt"
    process = _anode(killed_cfg, wait=False)
    deadline = time.monotonic() + 300
    while not last.exists():  # end of the first epoch
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    size = -1
    while last.stat().st_size != size:  # let the checkpoint finish writing
        size = last.stat().st_size
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL

    at_kill = torch.load(last, weights_only=False)
    assert at_kill["epoch"] < epochs - 1  # interrupted before the end...
    assert at_kill["epoch"] >= 0  # ...with at most the running epoch lost

    _anode(killed_cfg, "--ckpt_path", "last")
    _anode(straight_cfg)

    resumed = torch.load(last, weights_only=False)
    straight = torch.load(straight_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == straight["epoch"] == epochs - 1
    assert resumed["global_step"] == straight["global_step"]
    for key, value in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key
