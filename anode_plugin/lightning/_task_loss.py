"""``ANODEModule``'s tasks and losses: the targets checked against the outputs, then the
loss of the task."""

from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LOSSES",
    "TASKS",
    "check_regulariser_weight",
    "check_weight",
    "class_targets",
    "regression_targets",
    "regularised_blocks",
    "task_loss",
    "unpack_batch",
]

TASKS = ("classification", "regression")
# The first loss of each task is its default; smooth L1 follows the reference code.
LOSSES: dict[str, tuple[str, ...]] = {
    "classification": ("cross_entropy",),
    "regression": ("smooth_l1", "mse"),
}


def class_targets(y: Tensor, batch: int, num_outputs: int, binary: bool) -> Tensor:
    """Class indices ``[batch]`` (a ``[batch, 1]`` column accepted), checked in range."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (batch,):
        raise ValueError(
            f"Classification targets must have shape [batch]=({batch},), got {tuple(y.shape)}."
        )
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise ValueError("Classification targets must be class indices, got fractional values.")
    classes = 2 if binary else num_outputs
    if bool(((y < 0) | (y >= classes)).any()):  # CUDA would fail in a device assert
        raise ValueError(
            f"Classification targets must be class indices 0 to {classes - 1} "
            f"(num_outputs={num_outputs}), got values from {int(y.min())} to "
            f"{int(y.max())}: set num_outputs to the number of classes."
        )
    return y.long()


def regression_targets(y: Tensor, out: Tensor) -> Tensor:
    """Targets of the outputs' shape ``[batch, num_outputs]`` (``[batch]`` for one output)."""
    if y.ndim == 1 and out.shape[1] == 1:
        y = y[:, None]
    if y.shape != out.shape:
        raise ValueError(
            f"Regression targets must have shape [batch] (one output) or [batch, "
            f"num_outputs]={tuple(out.shape)}, got {tuple(y.shape)}."
        )
    return y.to(out.dtype)


def task_loss(
    task: str, loss: str, out: Tensor, y: Tensor, num_outputs: int
) -> tuple[Tensor, Tensor | None]:
    """The loss, and the targets prepared for the accuracy (``None`` for regression)."""
    if task == "regression":
        y = regression_targets(y, out)
        if loss == "mse":
            return F.mse_loss(out, y), None
        return F.smooth_l1_loss(out, y), None
    binary = num_outputs == 1
    y = class_targets(y, out.shape[0], num_outputs, binary)
    if binary:
        return F.binary_cross_entropy_with_logits(out[:, 0], y.to(out.dtype)), y
    return F.cross_entropy(out, y), y


def check_weight(argument: str, weight: object) -> float:
    """A loss term's weight: a real number >= 0."""
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not weight >= 0:
        raise ValueError(f"`{argument}` must be a number >= 0, got {weight!r}.")
    return float(weight)


def regularised_blocks(ode: nn.Module, name: str) -> list[nn.Module]:
    """The ODE blocks inside ``ode`` that integrate regulariser ``name``."""
    return [m for m in ode.modules() if name in getattr(m, "regularisers", ())]


def check_regulariser_weight(ode: nn.Module, name: str, weight: object) -> float:
    """``{name}_weight``, checked, for an ``ode`` that integrates regulariser ``name``."""
    checked = check_weight(f"{name}_weight", weight)
    if not regularised_blocks(ode, name):
        raise ValueError(
            f"`{name}_weight`={weight} needs an ODE block that integrates the {name!r} "
            f"regulariser; build it with AugmentedNeuralODE(..., regularisers=({name!r},))."
        )
    return checked


def unpack_batch(batch: Any) -> tuple[Tensor, Tensor]:
    """A batch's ``(x, y)``; a clear error for anything else."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ValueError(
            f"ANODEModule expects batches `(x, y)`, got {type(batch).__name__}"
            f"{f' of length {len(batch)}' if isinstance(batch, (tuple, list)) else ''}."
        )
    return batch[0], batch[1]
