"""Progress of ``anode-images`` on stdout: the runs train with Lightning's progress bar
off (it floods logs and notebooks), so without these lines a long run is silent."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from typing_extensions import override

__all__ = ["EpochProgress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """A duration as ``'0.4 s'``, ``'17 s'``, ``'3 min 12 s'`` or ``'1 h 05 min'``."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class EpochProgress(Callback):
    """One line on stdout at the end of each training epoch: the epoch (and step, under
    ``max_steps``), the epoch's mean training loss and the time since training began.

    Args:
        prefix: what each line starts with, e.g. ``'[digits] run 2/6: ANODE seed=1'``.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._start = time.perf_counter()
        self._loss_sum: Tensor | None = None
        self._steps = 0

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._loss_sum, self._steps = None, 0

    @override
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, Tensor):
            # Summed on the loss's device and read once an epoch: no GPU sync per step.
            loss = loss.detach().float()
            self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
            self._steps += 1
        # A run limited by `max_steps` may end inside its first epoch (600 steps of
        # MNIST's 1,875): a line every tenth of the steps too, so it is never silent.
        # (Epochs no longer than that have their own lines.)
        every = max(1, trainer.max_steps // 10) if trainer.max_steps > 0 else 0
        step = trainer.global_step
        if (
            every
            and trainer.num_training_batches > every
            and step % every == 0
            and step < trainer.max_steps
            and trainer.is_global_zero
        ):
            self._report(trainer, f"step {step}/{trainer.max_steps}")

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        epoch = f"epoch {trainer.current_epoch + 1}"
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            epoch += f"/{trainer.max_epochs}"
        if trainer.max_steps > 0:
            epoch += f" (step {trainer.global_step}/{trainer.max_steps})"
        self._report(trainer, epoch)

    def _report(self, trainer: pl.Trainer, where: str) -> None:
        """One line: where training is, the mean loss of the epoch so far, the time."""
        loss = ""
        if self._loss_sum is not None and self._steps:
            loss = f", train loss {float(self._loss_sum) / self._steps:.4f}"
        elapsed = format_seconds(time.perf_counter() - self._start)
        print(f"{self.prefix}: {where}{loss}, {elapsed}", flush=True)
