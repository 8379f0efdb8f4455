"""Figures 10-12 of the paper for the image runs: loss, NFE and accuracy over training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..._atomic import atomic_path
from ._catch_up import moving_means, smoothing_window

__all__ = ["save_figures"]


def save_figures(dataset: str, runs: list[dict[str, Any]], path: Path) -> None:
    """Figures 10-12's panels for ``runs`` into ``path`` (a PNG).

    Training loss and forward NFE over iterations, NFE vs loss and training accuracy vs
    NFE, one colour per model.
    """
    import matplotlib  # lazily: the benchmark runs without it until the figures

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"node": "tab:blue", "anode": "tab:orange"}
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for run in runs:
        hist, colour = run["history"], colours[run["model"]]
        label = f"{run['model'].upper()} (p={run['augment_dims']})"
        steps = range(1, len(hist["loss"]) + 1)
        # One batch's loss is noisy: each step faint, the moving mean (the one the
        # catch-up claims use) drawn over it.
        window = smoothing_window(len(hist["loss"]))
        loss = moving_means(hist["loss"], window)
        nfe = moving_means(hist["nfe_forward"], window)
        faint = {"color": colour, "alpha": 0.15, "linewidth": 0.5}
        kw = {"color": colour, "alpha": 0.9, "linewidth": 1.2}
        axes[0].plot(steps, hist["loss"], **faint)
        axes[0].plot(steps, loss, label=label, **kw)
        axes[1].plot(steps, hist["nfe_forward"], **faint)
        axes[1].plot(steps, nfe, label=label, **kw)
        axes[2].scatter(hist["nfe_forward"], hist["loss"], s=3, color=colour, alpha=0.15)
        axes[2].plot(nfe, loss, **kw)
        n = min(len(hist["accuracy"]), len(hist["nfe_forward"]))
        axes[3].scatter(hist["nfe_forward"][:n], hist["accuracy"][:n], s=4, color=colour, alpha=0.5)
    titles = [
        ("Training loss", "iteration", "loss"),
        ("NFEs (forward)", "iteration", "NFE"),
        ("NFEs vs loss", "NFE", "loss"),
        ("Training accuracy vs NFEs", "NFE", "accuracy"),
    ]
    for ax, (title, xlabel, ylabel) in zip(axes, titles, strict=True):
        ax.set(title=f"{dataset}: {title}", xlabel=xlabel, ylabel=ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0].legend(unique.values(), unique.keys())
    fig.tight_layout()
    with atomic_path(path) as partial:
        fig.savefig(partial, dpi=120)
    plt.close(fig)
