"""Figures of ``anode-experiments augmentations``: loss and NFE over training, and the
oscillator's trajectories."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..._atomic import save_figure
from ._config import AUGMENTATION_TASKS

__all__ = ["augmentation_figures"]


_COLOURS = {"NODE": "C3", "zeros": "C0", "input_layer": "C2", "second_order": "C1"}


def _mean_curve(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.mean([np.asarray(run[key], dtype=float) for run in runs], axis=0)


def augmentation_figures(results: dict[str, Any], output_dir: str) -> list[str]:
    """Loss, NFE and oscillator figures into ``output_dir``; returns the file names."""
    from matplotlib.figure import Figure

    tasks = [t for t in AUGMENTATION_TASKS if t in results]
    written = []
    for name, key, ylabel in (
        ("augmentations_loss.png", "loss_history", "training MSE (mean over seeds)"),
        ("augmentations_nfe.png", "nfe_forward", "NFE per step (mean over seeds)"),
    ):
        fig = Figure(figsize=(4 * len(tasks), 3.2), layout="constrained")
        axes = fig.subplots(1, len(tasks), squeeze=False)[0]
        for ax, task in zip(axes, tasks, strict=True):
            for kind, entry in results[task].items():
                ax.plot(_mean_curve(entry["runs"], key), label=kind, color=_COLOURS.get(kind))
                if key == "nfe_forward" and any(r["nfe_backward"][-1] for r in entry["runs"]):
                    backward = _mean_curve(entry["runs"], "nfe_backward")
                    ax.plot(backward, ls=":", color=_COLOURS.get(kind), alpha=0.7)
            ax.set_title(task)
            ax.set_xlabel("training step")
            if key == "loss_history":
                ax.set_yscale("log")
        axes[0].set_ylabel(ylabel + ("\nsolid: forward, dotted: backward" if "nfe" in key else ""))
        axes[-1].legend(fontsize=8)
        save_figure(fig, os.path.join(output_dir, name), dpi=100)
        written.append(name)
    if "oscillator" in results:
        kinds = [k for k in results["oscillator"] if "viz" in results["oscillator"][k]]
        if kinds:
            fig = Figure(figsize=(3.2 * len(kinds), 3.0), layout="constrained")
            axes = fig.subplots(1, len(kinds), squeeze=False, sharey=True)[0]
            for ax, kind in zip(axes, kinds, strict=True):
                viz = results["oscillator"][kind]["viz"]
                for i, (truth, pred) in enumerate(
                    zip(viz["truth"], viz["prediction"], strict=True)
                ):
                    colour = f"C{i % 10}"
                    ax.plot(viz["times"], truth, color=colour, lw=1, alpha=0.5)
                    ax.plot(viz["times"], pred, "o--", color=colour, ms=3)
                ax.set_title(kind)
                ax.set_xlabel("t")
            axes[0].set_ylabel("x(t): truth (line), prediction (dots)")
            save_figure(fig, os.path.join(output_dir, "augmentations_oscillator.png"), dpi=100)
            written.append("augmentations_oscillator.png")
    return written
