"""The tasks and models of ``anode-experiments augmentations``: the data of each task, and
each kind's model, its hidden width matched to the zero-augmented model's parameters."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..._input_layer import InputLayer
from ..._model import AugmentedNeuralODE
from ..._validation import check_choice
from ..._vector_fields import MLPVectorField
from ...datasets import concentric_spheres, g1d
from ._config import (
    _MAX_MISMATCH,
    AUGMENTATION_KINDS,
    AUGMENTATION_TASKS,
    AugmentationsConfig,
)

__all__ = [
    "build_augmentation_model",
    "damped_oscillator",
    "match_hidden_dim",
    "task_data",
]


def damped_oscillator(
    x0: Tensor, times: Tensor, *, omega: float = 2.0, damping: float = 0.3
) -> Tensor:
    """``x(t)`` of ``x'' = -omega^2 x - damping x'`` from ``x(0) = x0``, ``x'(0) = 0``.

    The closed form of the under-damped oscillator (``damping < 2 omega``):
    ``x0 e^{-c t / 2} (cos(w_d t) + c / (2 w_d) sin(w_d t))`` with
    ``w_d = sqrt(omega^2 - c^2 / 4)``.

    Args:
        x0: initial positions, ``[n, 1]``.
        times: ``[K]``.
        omega: natural frequency.
        damping: damping ``c``, below ``2 * omega``.

    Returns:
        The positions ``[K, n, 1]``.
    """
    if not 0 <= damping < 2 * omega:
        raise ValueError(
            f"`damping` must be in [0, 2 * omega) = [0, {2 * omega:g}) (under-damped), "
            f"got {damping!r}."
        )
    w_d = math.sqrt(omega**2 - damping**2 / 4)
    t = times.to(x0.dtype).reshape(-1, 1, 1)
    shape = torch.exp(-damping * t / 2) * (
        torch.cos(w_d * t) + damping / (2 * w_d) * torch.sin(w_d * t)
    )
    return shape * x0.unsqueeze(0)


def task_data(task: str, config: AugmentationsConfig, seed: int) -> dict[str, Tensor]:
    if task == "g1d":
        x, y = g1d(num_points=config.g1d_points, seed=seed)
        return {"x": x, "y": y}
    if task == "spheres_d2":
        inner = config.spheres_points // 3
        x, y = concentric_spheres(
            dim=2, num_inner=inner, num_outer=config.spheres_points - inner, seed=seed
        )
        return {"x": x, "y": y}
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.rand(config.oscillator_points, 1, generator=generator) * 2 - 1
    times = torch.linspace(0.0, config.horizon, config.oscillator_times + 1)
    y = damped_oscillator(x0, times[1:], omega=config.omega, damping=config.damping)
    return {"x": x0, "y": y, "times": times}


# ---------------------------------------------------------------------------- models
def _input_dim(task: str) -> int:
    return 2 if task == "spheres_d2" else 1


def build_augmentation_model(
    kind: str, task: str, hidden_dim: int, config: AugmentationsConfig
) -> tuple[AugmentedNeuralODE, nn.Module | None]:
    """The ODE block of ``kind`` on ``task`` and its readout (``None``: the flow alone).

    Args:
        kind: one of ``AUGMENTATION_KINDS``.
        task: one of ``AUGMENTATION_TASKS``.
        hidden_dim: width of the field's hidden layers.
        config: the experiment's settings.
    """
    check_choice("kind", kind, AUGMENTATION_KINDS)
    check_choice("task", task, AUGMENTATION_TASKS)
    d = _input_dim(task)
    options: dict[str, Any] = {
        "backend": config.backend,
        "sensitivity": config.sensitivity,
        "atol": config.tol,
        "rtol": config.tol,
        "atol_adjoint": config.tol,
        "rtol_adjoint": config.tol,
    }
    if kind == "second_order":
        p = config.second_order_augment_dims
        n = d + p
        field = MLPVectorField(2 * n, hidden_dim, out_dim=n)
        options.update(augmentation="second_order", initial_velocity=config.initial_velocity)
        state = 2 * n
    else:
        p = 0 if kind == "NODE" else config.augment_dims
        field = MLPVectorField(d + p, hidden_dim)
        if kind == "input_layer":
            options["augmentation"] = InputLayer(p, d)
        state = d + p
    ode = AugmentedNeuralODE(field, augment_dims=p, **options)
    if kind == "second_order" and config.initial_velocity == "learned":
        ode.augmenter(torch.zeros(1, d))  # build the lazy velocity layer
    readout = nn.Linear(state, 1) if task == "spheres_d2" else None
    return ode, readout


def _count(kind: str, task: str, hidden_dim: int, config: AugmentationsConfig) -> int:
    ode, readout = build_augmentation_model(kind, task, hidden_dim, config)
    modules = [ode] if readout is None else [ode, readout]
    return sum(p.numel() for m in modules for n, p in m.named_parameters() if "dummy" not in n)


def match_hidden_dim(kind: str, task: str, config: AugmentationsConfig) -> tuple[int, int, int]:
    """The width giving ``kind`` the parameter count nearest the zero-augmented model's.

    Returns:
        ``(hidden_dim, parameters, budget)``.

    Raises:
        ValueError: no width comes within 5% of the budget.
    """
    budget = _count("zeros", task, config.hidden_dim, config)
    if kind == "zeros":
        return config.hidden_dim, budget, budget
    # The count grows with the width: walk up to the budget, keep the nearer neighbour.
    best, count = 1, _count(kind, task, 1, config)
    while count < budget:
        wider = _count(kind, task, best + 1, config)
        if abs(wider - budget) > abs(count - budget):
            break
        best, count = best + 1, wider
    if abs(count - budget) > _MAX_MISMATCH * budget:
        raise ValueError(
            f"No hidden width gives {kind} on {task} a parameter count within 5% of "
            f"{budget}; the nearest is {count} (width {best}). Change `hidden_dim`."
        )
    return best, count, budget
