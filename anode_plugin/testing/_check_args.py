"""What the property checks share: their argument checks and how a message shows a tensor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._model import AugmentedNeuralODE

_MAX_SHOWN = 6  # entries of a tensor shown in a message


def _fmt(value: Tensor | float) -> str:
    """A short, readable rendering of a tensor (or number) for failure messages."""
    if not isinstance(value, Tensor):
        return f"{value:.6g}"
    flat = value.detach().reshape(-1).tolist()
    shown = ", ".join(f"{v:.6g}" for v in flat[:_MAX_SHOWN])
    more = f", ... ({len(flat)} values)" if len(flat) > _MAX_SHOWN else ""
    if value.ndim == 0:
        return shown
    return f"[{shown}{more}]"


def _check_batch(name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(
            f"`{name}` must be a batch [batch, d, ...] with at least one sample, got shape "
            f"{tuple(x.shape)}."
        )
    return x


def _check_tolerance(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return float(value)


def _check_model(check: str, model: object) -> AugmentedNeuralODE:
    if not isinstance(model, AugmentedNeuralODE):
        raise TypeError(
            f"`{check}` takes an anode_plugin.AugmentedNeuralODE (it uses its features, "
            f"inverse, trajectory and nfe), got {type(model).__name__}. Wrap your vector "
            "field in one: `AugmentedNeuralODE(field, augment_dims=p)`; a plain torchdyn "
            "NeuralODE or a discrete model such as ResNet has no inverse to check."
        )
    return model


def _model_times(model: AugmentedNeuralODE, t_span: Sequence[float] | Tensor | None) -> Tensor:
    return model.t_span if t_span is None else torch.as_tensor(t_span, dtype=torch.float64)
