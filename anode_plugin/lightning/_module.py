"""``ANODEModule``: the paper's ODE block plus linear readout, as a LightningModule."""

from __future__ import annotations

import numbers
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torchdyn.nn import Augmenter as TorchdynAugmenter
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy
from typing_extensions import override

from .._augment import Augmenter
from .._validation import check_choice, check_positive_float, check_positive_int
from ._checkpoint_io import ReadableCheckpoints

__all__ = ["LOSSES", "TASKS", "ANODEModule"]


def _instantiated_by_cli() -> bool:
    """Whether LightningCLI is building this module (it hands over the parsed config).

    Lightning says so only through a private context variable, read here lazily: a
    release without it degrades to plain use (``ode`` then stays out of the saved
    hyperparameters) instead of breaking ``import anode_plugin``.
    """
    try:
        from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
    except ImportError:
        return False
    return _given_hyperparameters.get() is not None


TASKS = ("classification", "regression")
# The first loss of each task is its default; smooth L1 follows the reference code.
LOSSES: dict[str, tuple[str, ...]] = {
    "classification": ("cross_entropy",),
    "regression": ("smooth_l1", "mse"),
}
_DATALOADER_OF_STAGE = {
    "fit": "train_dataloader",
    "validate": "val_dataloader",
    "test": "test_dataloader",
    "predict": "predict_dataloader",
}


def _augmenter_path(ode: nn.Module) -> str | None:
    """Name of the one augmenter inside ``ode`` (``''`` for ``ode`` itself), or ``None``."""
    names = [
        name
        for name, module in ode.named_modules()
        if isinstance(module, (Augmenter, TorchdynAugmenter))
    ]
    if len(names) > 1:
        raise ValueError(
            f"readout=False predicts the original coordinates of phi(x), but `ode` holds "
            f"{len(names)} augmenters ({names}) and the original part is ambiguous; use "
            "readout=True."
        )
    if not names:
        return None
    augmenter = ode.get_submodule(names[0])
    if isinstance(augmenter, TorchdynAugmenter) and augmenter.augment_func is not None:
        raise ValueError(
            "readout=False cannot strip a torchdyn Augmenter with an `augment_func`: its "
            "augmented size is unknown. Use anode_plugin.Augmenter or readout=True."
        )
    return names[0]


def _strip(augmenter: nn.Module, z: Tensor) -> Tensor:
    if isinstance(augmenter, TorchdynAugmenter):
        # torchdyn's augmenter cannot strip: an equivalent one of ours does it.
        augmenter = Augmenter(augmenter.augment_idx, augmenter.augment_dims, order=augmenter.order)
    return augmenter.strip(z)


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
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
            raise ValueError(f"`weight_decay` must be a number >= 0, got {weight_decay!r}.")
        if not weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be a number >= 0, got {weight_decay!r}.")
        self.regularisation_weights = {
            name: _check_regulariser_weight(ode, name, weight)
            for name, weight in (("kinetic", kinetic_weight), ("jacobian", jacobian_weight))
            if weight != 0
        }
        # Under LightningCLI the saved hyperparameters are the parsed config, where
        # `ode` is a class_path dictionary: keeping it lets `load_from_checkpoint(path)`
        # rebuild the model alone. Elsewhere `ode` is a module, already in the state dict.
        under_cli = _instantiated_by_cli()
        self.save_hyperparameters(ignore=None if under_cli else ["ode"])

        self.ode = ode
        self.task = task
        self.num_outputs = num_outputs
        self.loss_name = loss
        self.lr = lr
        self.weight_decay = float(weight_decay)
        self.head: nn.Module | None = None
        self._augmenter_path: str | None = None
        if readout:
            self.head = (
                nn.LazyLinear(num_outputs)
                if feature_dim is None
                else nn.Linear(feature_dim, num_outputs)
            )
        else:
            self._augmenter_path = _augmenter_path(ode)
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
            features = z.flatten(1)
            expected = getattr(self.head, "in_features", 0)  # 0: lazy, takes any size
            if expected and features.shape[1] != expected:
                raise ValueError(
                    f"`feature_dim`={expected}, but the ODE block's final state has "
                    f"{features.shape[1]} entries per sample (shape {tuple(z.shape)}): "
                    f"set feature_dim={features.shape[1]}, or leave it out to infer it."
                )
            return self.head(features)
        if self._augmenter_path is not None:
            z = _strip(self.ode.get_submodule(self._augmenter_path), z)
        out = z.flatten(1)
        if out.shape[1] != self.num_outputs:
            raise ValueError(
                f"readout=False predicts the original coordinates of phi(x), which have "
                f"{out.shape[1]} entries, but num_outputs={self.num_outputs}; set num_outputs="
                f"{out.shape[1]} or use readout=True."
            )
        return out

    @override
    def setup(self, stage: str) -> None:
        # A lazy readout (or input layer) must get its shape before DDP wraps the model and
        # before the optimiser is built: one example of the data, without gradients, gives it.
        if not any(
            isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in self.modules()
        ):
            return
        datamodule = self.trainer.datamodule
        if datamodule is None or stage not in _DATALOADER_OF_STAGE:
            return
        batch = next(iter(getattr(datamodule, _DATALOADER_OF_STAGE[stage])()))
        x, _ = self._unpack(batch)
        with torch.no_grad():
            self(x[:1].to(self.device))

    # ------------------------------------------------------------------ loss
    @staticmethod
    def _unpack(batch: Any) -> tuple[Tensor, Tensor]:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(
                f"ANODEModule expects batches `(x, y)`, got {type(batch).__name__}"
                f"{f' of length {len(batch)}' if isinstance(batch, (tuple, list)) else ''}."
            )
        return batch[0], batch[1]

    def _class_targets(self, y: Tensor, batch: int) -> Tensor:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != (batch,):
            raise ValueError(
                f"Classification targets must have shape [batch]=({batch},), got {tuple(y.shape)}."
            )
        if y.is_floating_point() and not torch.equal(y, y.round()):
            raise ValueError("Classification targets must be class indices, got fractional values.")
        classes = 2 if self._binary else self.num_outputs
        if bool(((y < 0) | (y >= classes)).any()):  # CUDA would fail in a device assert
            raise ValueError(
                f"Classification targets must be class indices 0 to {classes - 1} "
                f"(num_outputs={self.num_outputs}), got values from {int(y.min())} to "
                f"{int(y.max())}: set num_outputs to the number of classes."
            )
        return y.long()

    def _regression_targets(self, y: Tensor, out: Tensor) -> Tensor:
        if y.ndim == 1 and out.shape[1] == 1:
            y = y[:, None]
        if y.shape != out.shape:
            raise ValueError(
                f"Regression targets must have shape [batch] (one output) or [batch, "
                f"num_outputs]={tuple(out.shape)}, got {tuple(y.shape)}."
            )
        return y.to(out.dtype)

    def _loss(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        """The loss, and the targets prepared for the accuracy (``None`` for regression)."""
        if self.task == "regression":
            y = self._regression_targets(y, out)
            if self.loss_name == "mse":
                return F.mse_loss(out, y), None
            return F.smooth_l1_loss(out, y), None
        y = self._class_targets(y, out.shape[0])
        if self._binary:
            return F.binary_cross_entropy_with_logits(out[:, 0], y.to(out.dtype)), y
        return F.cross_entropy(out, y), y

    def _evaluate(self, batch: Any, stage: str) -> Tensor:
        x, y = self._unpack(batch)
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
        x, y = self._unpack(batch)
        loss, _ = self._loss(self(x), y)
        self.log(
            "train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=x.shape[0]
        )
        for name, weight in self.regularisation_weights.items():
            # The mean over the batch of each block's per-sample integral, summed over blocks.
            value = sum(
                block.regularisation[name].mean() for block in _regularised_blocks(self.ode, name)
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
        x = self._unpack(batch)[0] if isinstance(batch, (tuple, list)) else batch
        return self(x)

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def _regularised_blocks(ode: nn.Module, name: str) -> list[nn.Module]:
    """The ODE blocks inside ``ode`` that integrate regulariser ``name``."""
    return [m for m in ode.modules() if name in getattr(m, "regularisers", ())]


def _check_regulariser_weight(ode: nn.Module, name: str, weight: object) -> float:
    argument = f"{name}_weight"
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not weight >= 0:
        raise ValueError(f"`{argument}` must be a number >= 0, got {weight!r}.")
    if not _regularised_blocks(ode, name):
        raise ValueError(
            f"`{argument}`={weight} needs an ODE block that integrates the {name!r} "
            f"regulariser; build it with AugmentedNeuralODE(..., regularisers=({name!r},))."
        )
    return float(weight)
