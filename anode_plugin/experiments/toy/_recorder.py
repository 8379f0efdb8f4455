"""A callback that records what the toy experiments plot: losses and feature snapshots."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn
from typing_extensions import override

from ..._model import AugmentedNeuralODE
from ...lightning._nfe_callback import step_loss

__all__ = ["TrainingRecorder"]


class TrainingRecorder(Callback):
    """Records the loss of every training step, the validation loss of every epoch
    and the features ``phi(x)`` of a fixed batch at ``num_snapshots`` evenly spaced steps.

    The NFE counts of the model are restored after each snapshot, so snapshots add
    nothing to the measured training cost.

    Args:
        feature_map: the model's ``phi``, with a ``features(x)`` method (an
            ``AugmentedNeuralODE`` or a ``ResNet``).
        inputs: the batch whose features are recorded, ``[n, d]``.
        total_steps: the number of training steps the run will take.
        num_snapshots: number of snapshots, the first before any training step and the
            last after the final one.
    """

    def __init__(
        self, feature_map: nn.Module, inputs: Tensor, *, total_steps: int, num_snapshots: int
    ) -> None:
        super().__init__()
        self.feature_map = feature_map
        self.inputs = inputs
        count = max(2, num_snapshots)
        self.snapshot_steps = sorted({round(i * total_steps / (count - 1)) for i in range(count)})
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.snapshots: list[dict[str, Any]] = []

    def _snapshot(self, step: int) -> None:
        model = self.feature_map
        # A snapshot is not part of the training cost: its evaluations are not counted.
        uncounted = model.uncounted() if isinstance(model, AugmentedNeuralODE) else nullcontext()
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), uncounted:
                features = model.features(self.inputs)
        finally:
            model.train(was_training)
        self.snapshots.append({"step": step, "features": features.tolist()})

    @override
    def on_train_start(self, *args: Any, **kwargs: Any) -> None:
        if 0 in self.snapshot_steps and not self.snapshots:
            self._snapshot(0)

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.losses.append(step_loss(outputs))
        step = len(self.losses)
        if step in self.snapshot_steps and step > 0:
            self._snapshot(step)

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val/loss")
        if value is not None:
            self.val_losses.append(float(value))
