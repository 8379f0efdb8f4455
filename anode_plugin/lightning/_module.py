"""``ANODEModule``: the paper's ODE block plus linear readout, as a LightningModule."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy
from typing_extensions import override

from .._validation import check_choice, check_positive_float, check_positive_int
from ._checkpoint_io import ReadableCheckpoints, instantiated_by_cli
from ._readout import (
    augmenter_path,
    check_feature_dim,
    first_example,
    original_coordinates,
    strip_augmented,
)
from ._task_loss import (
    LOSSES,
    TASKS,
    check_regulariser_weight,
    check_weight,
    regularised_blocks,
    task_loss,
    unpack_batch,
)

__all__ = ["LOSSES", "TASKS", "ANODEModule"]


class ANODEModule(ReadableCheckpoints, pl.LightningModule):
    """An ODE block followed by a linear readout: the paper's ``g(x) = L(phi(x))``.

    ``phi(x)`` is the final state of the ODE block (augmented dimensions included);
    ``L`` is a linear layer on its flattened entries. With ``readout=False`` there is
    no layer: the prediction is the original (non-augmented) coordinates of
    ``phi(x)``, as in the paper's 1-D ``g`` experiment.

    Logs ``train/loss`` each step, and ``val/loss``, ``val/acc``, ``test/loss``,
    ``test/acc`` each epoch (accuracies for classification only). Batches are
    ``(x, y)`` pairs.

    Args:
        ode: the ODE block: an :class:`~anode_plugin.AugmentedNeuralODE`, a torchdyn
            ``NeuralODE``, or any module (e.g. ``nn.Sequential(Augmenter(...),
            NeuralODE(...))``) returning ``(t_eval, sol)`` or ``sol``, with ``sol`` of
            shape ``[time, batch, ...]``.
        task: ``'classification'`` or ``'regression'``.
        num_outputs: classes (1 means binary classification with one logit) or
            regression outputs.
        readout: whether a linear layer maps the features to the outputs.
        feature_dim: size of the flattened features, ``(d + p) * h * w`` (twice that with
            ``augmentation="second_order"``). ``None`` infers it from the first example
            of the datamodule at ``setup`` (or on the first call when the model is used
            without a datamodule); give it explicitly for DDP without a datamodule.
        loss: one of ``LOSSES[task]``; ``None`` picks ``'cross_entropy'`` for
            classification (binary cross-entropy when ``num_outputs=1``) and
            ``'smooth_l1'`` for regression.
        lr: Adam's learning rate.
        weight_decay: Adam's weight decay.
        kinetic_weight: weight of the kinetic-energy regulariser in the training loss
            (Finlay et al., 2020); needs an ODE block built with
            ``regularisers=("kinetic", ...)``. Logged as ``train/reg/kinetic``.
        jacobian_weight: weight of the Jacobian Frobenius-norm regulariser; needs
            ``regularisers=(..., "jacobian")``. Logged as ``train/reg/jacobian``.

    Checkpoints written by the ``anode`` command line reload with
    ``ANODEModule.load_from_checkpoint(path)`` (the ``ode`` is rebuilt from the saved
    config); others need the block again: ``load_from_checkpoint(path, ode=...)``.

    Shape:
        - ``x``: ``[batch, d]`` or ``[batch, c, h, w]``.
        - output: ``[batch, num_outputs]``.
        - ``y``: class indices ``[batch]`` (classification); ``[batch]`` or
          ``[batch, num_outputs]`` (regression).

    Example:
        >>> from anode_plugin import AugmentedNeuralODE, MLPVectorField
        >>> model = ANODEModule(
        ...     AugmentedNeuralODE(MLPVectorField(2 + 1), augment_dims=1),
        ...     num_outputs=2, feature_dim=3,
        ... )
        >>> model(torch.randn(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        ode: nn.Module,
        *,
        task: str = "classification",
        num_outputs: int = 1,
        readout: bool = True,
        feature_dim: int | None = None,
        loss: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kinetic_weight: float = 0.0,
        jacobian_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(ode, nn.Module):
            raise TypeError(f"`ode` must be an nn.Module, got {type(ode).__name__}.")
        task = check_choice("task", task, TASKS)
        num_outputs = check_positive_int("num_outputs", num_outputs)
        if not isinstance(readout, bool):
            raise ValueError(f"`readout` must be True or False, got {readout!r}.")
        if feature_dim is not None:
            feature_dim = check_positive_int("feature_dim", feature_dim)
        loss = LOSSES[task][0] if loss is None else check_choice("loss", loss, LOSSES[task])
        lr = check_positive_float("lr", lr)
        weight_decay = check_weight("weight_decay", weight_decay)
        self.regularisation_weights = {
            name: check_regulariser_weight(ode, name, weight)
            for name, weight in (("kinetic", kinetic_weight), ("jacobian", jacobian_weight))
            if weight != 0
        }
        # Under LightningCLI the saved hyperparameters are the parsed config, where
        # `ode` is a class_path dictionary: keeping it lets `load_from_checkpoint(path)`
        # rebuild the model alone. Elsewhere `ode` is a module, already in the state dict.
        under_cli = instantiated_by_cli()
        self.save_hyperparameters(ignore=None if under_cli else ["ode"])

        self.ode = ode
        self.task = task
        self.num_outputs = num_outputs
        self.loss_name = loss
        self.lr = lr
        self.weight_decay = weight_decay
        self.head: nn.Module | None = None
        self._augmenter_path: str | None = None
        if readout:
            self.head = (
                nn.LazyLinear(num_outputs)
                if feature_dim is None
                else nn.Linear(feature_dim, num_outputs)
            )
        else:
            self._augmenter_path = augmenter_path(ode)
        self._binary = task == "classification" and num_outputs == 1
        if task == "classification":
            self.val_acc = self._accuracy()
            self.test_acc = self._accuracy()

    def _accuracy(self) -> BinaryAccuracy | MulticlassAccuracy:
        if self._binary:
            return BinaryAccuracy()
        return MulticlassAccuracy(num_classes=self.num_outputs, average="micro")

    # ------------------------------------------------------------------ model
    def features(self, x: Tensor) -> Tensor:
        """``phi(x)``: the ODE block's final state, ``[batch, d + p, ...]``."""
        out = self.ode(x)
        sol = out[-1] if isinstance(out, tuple) else out
        if not isinstance(sol, Tensor) or sol.ndim < 2:
            raise ValueError(
                f"`ode` must return `(t_eval, sol)` or `sol` with `sol` of shape "
                f"[time, batch, ...]; {type(self.ode).__name__} returned "
                f"{getattr(sol, 'shape', type(sol).__name__)}."
            )
        return sol[-1]

    @override
    def forward(self, x: Tensor) -> Tensor:
        """Predictions (logits or regression outputs), ``[batch, num_outputs]``."""
        z = self.features(x)
        if self.head is not None:
            return self.head(check_feature_dim(self.head, z))
        if self._augmenter_path is not None:
            z = strip_augmented(self.ode.get_submodule(self._augmenter_path), z)
        return original_coordinates(z, self.num_outputs)

    @override
    def setup(self, stage: str) -> None:
        # A lazy readout (or input layer) must get its shape before DDP wraps the model and
        # before the optimiser is built: one example of the data, without gradients, gives it.
        x = first_example(self, self.trainer.datamodule, stage)
        if x is not None:
            with torch.no_grad():
                self(x.to(self.device))

    # ------------------------------------------------------------------ loss
    def _loss(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        """The loss, and the targets prepared for the accuracy (``None`` for regression)."""
        return task_loss(self.task, self.loss_name, out, y, self.num_outputs)

    def _evaluate(self, batch: Any, stage: str) -> Tensor:
        x, y = unpack_batch(batch)
        out = self(x)
        loss, targets = self._loss(out, y)
        size = x.shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        if targets is not None:
            metric = self.val_acc if stage == "val" else self.test_acc
            metric(torch.sigmoid(out[:, 0]) if self._binary else out, targets)
            self.log(f"{stage}/acc", metric, prog_bar=True, batch_size=size)
        return loss

    # ------------------------------------------------------------------ steps
    @override
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = unpack_batch(batch)
        loss, _ = self._loss(self(x), y)
        self.log(
            "train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=x.shape[0]
        )
        for name, weight in self.regularisation_weights.items():
            # The mean over the batch of each block's per-sample integral, summed over blocks.
            value = sum(
                block.regularisation[name].mean() for block in regularised_blocks(self.ode, name)
            )
            self.log(
                f"train/reg/{name}", value, on_step=True, on_epoch=False, batch_size=x.shape[0]
            )
            loss = loss + weight * value
        return loss

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val")

    @override
    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test")

    @override
    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        x = unpack_batch(batch)[0] if isinstance(batch, (tuple, list)) else batch
        return self(x)

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
