"""``FailureGuard``: stop a run that has gone non-finite or whose solver failed, losing nothing."""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from typing_extensions import override

from .._errors import SolverError
from ._nfe_budget import _checkpoint_dir, _save_whole

__all__ = ["FailureGuard"]


class FailureGuard(Callback):
    """Turns the two ways Neural ODE training dies into a clean stop with a checkpoint.

    - A non-finite training loss (NaN or inf): the optimizer step is skipped, so the
      weights are still those of the last good step; they are saved to
      ``non-finite-loss-epoch=E-step=S.ckpt`` in the run's checkpoint directory and
      training stops with a warning naming the file. Processes agree: if any of them
      sees a non-finite loss, all stop.
    - A :class:`~anode_plugin.SolverError` raised by a solve (``max_nfe`` exceeded, a
      non-finite state, a step-size underflow): the weights, untouched by the failed
      step, are saved to ``solver-error-epoch=E-step=S.ckpt`` before the error
      propagates; the file's path is added to the error's message.

    Attributes:
        checkpoint_path: the checkpoint written by the last stop, or ``None``.
    """

    def __init__(self) -> None:
        self.checkpoint_path: str | None = None
        self._loss_is_finite = True

    @override
    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor
    ) -> None:
        self._loss_is_finite = bool(torch.isfinite(loss.detach()).all())

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        # Any process with a non-finite loss stops them all: the same decision everywhere.
        failed = trainer.strategy.reduce_boolean_decision(not self._loss_is_finite, all=False)
        if not failed:
            return
        # Parameters without gradients are left alone by the optimizer's step.
        optimizer.zero_grad(set_to_none=True)
        path = self._save(trainer, "non-finite-loss")
        trainer.should_stop = True
        rank_zero_warn(
            f"The training loss became non-finite at step {trainer.global_step} (epoch "
            f"{trainer.current_epoch}). The update was skipped and the weights of the last "
            f"good step are saved in {path}. Lower the learning rate, add weight decay or "
            "gradient clipping, or check the data."
        )

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SolverError) or trainer.state.fn != "fit":
            return
        path = self._save(trainer, "solver-error")
        note = f"The weights before the failing step are saved in {path}."
        if hasattr(exception, "add_note"):  # Python >= 3.11
            exception.add_note(note)
        else:
            rank_zero_warn(note)

    def _save(self, trainer: pl.Trainer, reason: str) -> str:
        name = f"{reason}-epoch={trainer.current_epoch}-step={trainer.global_step}.ckpt"
        path = os.path.join(str(_checkpoint_dir(trainer, fallback=True)), name)
        _save_whole(trainer, path)
        self.checkpoint_path = path
        return path

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"checkpoint_path": self.checkpoint_path}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.checkpoint_path = state_dict["checkpoint_path"]
