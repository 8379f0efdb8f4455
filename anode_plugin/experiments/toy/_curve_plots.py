"""Training curves of the toy experiments: loss and NFE over epochs, NFE against loss."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._shared import COLORS, grid

__all__ = [
    "band",
    "curves",
    "epoch_means",
    "loss_figure",
    "nfe_figure",
    "nfe_vs_loss_figure",
]


def epoch_means(values: list[float], steps_per_epoch: int) -> np.ndarray:
    """Mean of ``values`` over each epoch (the last, partial epoch included)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return array
    count = math.ceil(array.size / steps_per_epoch)
    return np.array(
        [array[i * steps_per_epoch : (i + 1) * steps_per_epoch].mean() for i in range(count)]
    )


def curves(runs: list[dict[str, Any]], key: str, *, per_epoch: bool = True) -> np.ndarray:
    """Per-seed curves stacked ``[seeds, epochs]`` (truncated to the shortest)."""
    per_seed = [
        epoch_means(run[key], run["steps_per_epoch"]) if per_epoch else np.asarray(run[key])
        for run in runs
    ]
    per_seed = [c for c in per_seed if c.size]
    if not per_seed:
        return np.empty((0, 0))
    length = min(c.size for c in per_seed)
    return np.stack([c[:length] for c in per_seed])


def band(ax, curves: np.ndarray, label: str, color: str) -> None:
    """Mean over seeds with a min-max band."""
    if curves.size == 0:
        return
    epochs = np.arange(1, curves.shape[1] + 1)
    ax.plot(epochs, curves.mean(0), color=color, label=f"{label} (n={curves.shape[0]})")
    if curves.shape[0] > 1:
        ax.fill_between(epochs, curves.min(0), curves.max(0), color=color, alpha=0.2, lw=0)


def _panels(results: dict[str, Any]) -> tuple[Figure, list[tuple[Any, str, dict[str, Any]]]]:
    """A figure with one panel per experiment, and each panel's axes, key and results."""
    experiments = results["experiments"]
    fig, axes = grid(len(experiments))
    return fig, [(ax, key, exp) for ax, (key, exp) in zip(axes, experiments.items(), strict=True)]


def _band_figure(
    results: dict[str, Any], history: str, ylabel: str, title: str, **scale: str
) -> Figure:
    """Each model's per-epoch ``history``, mean and min-max over seeds, a panel per experiment."""
    fig, panels = _panels(results)
    for ax, key, exp in panels:
        for name, model in exp["models"].items():
            band(ax, curves(model["runs"], history), name, COLORS.get(name, "k"))
        ax.set(title=key, xlabel="epoch", ylabel=ylabel, **scale)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def loss_figure(results: dict[str, Any]) -> Figure:
    """Training loss per epoch, mean and min-max over seeds, one panel per experiment."""
    return _band_figure(
        results,
        "loss_history",
        "training loss (SmoothL1)",
        "Training loss: mean over seeds, band = min-max",
        yscale="log",
    )


def nfe_figure(results: dict[str, Any]) -> Figure:
    """Forward NFE per training step, averaged per epoch, for the ODE models."""
    return _band_figure(
        results,
        "nfe_forward",
        "forward NFE per step",
        "Forward NFE during training: mean over seeds, band = min-max",
    )


def nfe_vs_loss_figure(results: dict[str, Any]) -> Figure:
    """Epoch-mean forward NFE against epoch-mean loss (each point one epoch of one seed)."""
    fig, panels = _panels(results)
    for ax, key, exp in panels:
        for name, model in exp["models"].items():
            nfe = curves(model["runs"], "nfe_forward")
            loss = curves(model["runs"], "loss_history")
            if nfe.size == 0:
                continue
            length = min(nfe.shape[1], loss.shape[1])
            ax.scatter(
                loss[:, :length].ravel(),
                nfe[:, :length].ravel(),
                s=8,
                alpha=0.6,
                color=COLORS.get(name, "k"),
                label=name,
            )
        ax.set(title=key, xlabel="training loss", ylabel="forward NFE", xscale="log")
        ax.legend(fontsize=8)
    fig.suptitle("NFE vs loss (one point per epoch and seed)")
    return fig
