"""The flows of the toy experiments: 1-D flows, 2-D trajectories, features, output maps,
and the held-out slices' losses."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._shared import point_colors
from ._curve_plots import band, curves

__all__ = [
    "feature_evolution_figure",
    "flows_1d_figure",
    "generalisation_figure",
    "output_maps_figure",
    "trajectories_2d_figure",
]


def flows_1d_figure(results: dict[str, Any]) -> Figure | None:
    """Learned 1-D flows: the original coordinate of each trajectory against time.

    ANODE trajectories may cross in this projection: they pass each other through
    the augmented dimension, drawn in the last column as paths in the ``(h, a)``
    plane. ResNet states are drawn per block (dashed), like Euler steps.
    """
    keys = [k for k, e in results["experiments"].items() if e.get("dim") == 1]
    if not keys:
        return None
    names = list(results["experiments"][keys[0]]["models"])
    columns = len(names) + 1
    fig = Figure(figsize=(3.4 * columns, 2.8 * len(keys)), layout="constrained")
    for row, key in enumerate(keys):
        exp = results["experiments"][key]
        colors = point_colors(exp["viz_labels"])
        for col, name in enumerate(names):
            ax = fig.add_subplot(len(keys), columns, row * columns + col + 1)
            viz = exp["models"][name].get("viz")
            if viz is None:
                continue
            times = np.asarray(viz["trajectory_times"])
            states = np.asarray(viz["trajectory"])  # [time, n, d + p]
            style = "--" if name == "ResNet" else "-"
            for i, color in enumerate(colors):
                ax.plot(times, states[:, i, 0], style, color=color, lw=1)
            ax.set(title=f"{key}: {name}", xlabel="t", ylabel="h(t)")
            if name == "ANODE" and states.shape[2] >= 2:
                plane = fig.add_subplot(len(keys), columns, row * columns + columns)
                for i, color in enumerate(colors):
                    plane.plot(states[:, i, 0], states[:, i, 1], color=color, lw=1)
                    plane.scatter(states[-1, i, 0], states[-1, i, 1], color=color, s=8)
                plane.set(title=f"{key}: ANODE in (h, a)", xlabel="h", ylabel="a (augmented)")
    fig.suptitle("Learned 1-D flows (blue: label -1, red: label +1)")
    return fig


def _scatter_states(ax, points: np.ndarray, colors: list[str], *, three_d: bool) -> None:
    if three_d:
        ax.scatter(points[:, 0], points[:, 1], points[:, 2], c=colors, s=4)
    elif points.shape[1] == 1:
        jitter = np.linspace(-0.1, 0.1, points.shape[0])
        ax.scatter(points[:, 0], jitter, c=colors, s=4)
        ax.set_yticks([])
    else:
        ax.scatter(points[:, 0], points[:, 1], c=colors, s=4)


def _planar_grid(
    results: dict[str, Any], panel: tuple[float, float]
) -> tuple[Figure, list[str], list[str]] | None:
    """A figure of ``panel``-sized (width, height) panels: the 2-D experiments (the
    rows) by the first one's models (the columns); ``None`` without a 2-D experiment."""
    keys = [k for k, e in results["experiments"].items() if e.get("dim") == 2]
    if not keys:
        return None
    names = list(results["experiments"][keys[0]]["models"])
    size = (panel[0] * len(names), panel[1] * len(keys))
    return Figure(figsize=size, layout="constrained"), keys, names


def trajectories_2d_figure(results: dict[str, Any]) -> Figure | None:
    """Learned 2-D flows: trajectories from input to features (3-D when augmented)."""
    grid = _planar_grid(results, (3.8, 3.4))
    if grid is None:
        return None
    fig, keys, names = grid
    for row, key in enumerate(keys):
        exp = results["experiments"][key]
        colors = point_colors(exp["viz_labels"])
        for col, name in enumerate(names):
            viz = exp["models"][name].get("viz")
            states = np.asarray(viz["trajectory"]) if viz else None
            three_d = states is not None and states.shape[2] >= 3
            ax = fig.add_subplot(
                len(keys),
                len(names),
                row * len(names) + col + 1,
                projection="3d" if three_d else None,
            )
            ax.set_title(f"{key}: {name}")
            if states is None:
                continue
            shown = range(0, states.shape[1], max(1, states.shape[1] // 64))
            for i in shown:
                path = states[:, i, :3] if three_d else states[:, i, :2]
                ax.plot(*path.T, color=colors[i], lw=0.6, alpha=0.7)
            _scatter_states(ax, states[-1, :, :3], colors, three_d=three_d)
    fig.suptitle("Trajectories from inputs to features (dots: features)")
    return fig


def feature_evolution_figure(exp: dict[str, Any], title: str) -> Figure:
    """Features of a fixed batch at evenly spaced points of training (Figure 8)."""
    names = [n for n, m in exp["models"].items() if m.get("viz")]
    count = max(len(m["viz"]["snapshots"]) for m in (exp["models"][n] for n in names))
    fig = Figure(figsize=(2.6 * count, 2.5 * len(names)), layout="constrained")
    colors = point_colors(exp["viz_labels"])
    for row, name in enumerate(names):
        snapshots = exp["models"][name]["viz"]["snapshots"]
        for col, snap in enumerate(snapshots):
            points = np.asarray(snap["features"])
            three_d = points.shape[1] >= 3
            ax = fig.add_subplot(
                len(names),
                count,
                row * count + col + 1,
                projection="3d" if three_d else None,
            )
            _scatter_states(ax, points, colors, three_d=three_d)
            ax.set_title(f"{name}, step {snap['step']}", fontsize=9)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"{title}: features during training")
    return fig


def output_maps_figure(results: dict[str, Any]) -> Figure | None:
    """Prediction ``g(x)`` over the input plane (Figure 9), with the training points."""
    grid = _planar_grid(results, (3.6, 3.2))
    if grid is None:
        return None
    fig, keys, names = grid
    for row, key in enumerate(keys):
        exp = results["experiments"][key]
        inputs = np.asarray(exp["viz_inputs"])
        for col, name in enumerate(names):
            ax = fig.add_subplot(len(keys), len(names), row * len(names) + col + 1)
            viz = exp["models"][name].get("viz")
            if not viz or not viz.get("output_map"):
                continue
            axis = np.asarray(viz["output_map"]["axis"])
            values = np.asarray(viz["output_map"]["values"])
            image = ax.imshow(
                values,
                extent=(axis[0], axis[-1], axis[0], axis[-1]),
                origin="lower",
                cmap="RdBu_r",
                vmin=-1.5,
                vmax=1.5,
            )
            ax.scatter(inputs[:, 0], inputs[:, 1], c=point_colors(exp["viz_labels"]), s=3)
            if "val_inputs" in exp:
                held = np.asarray(exp["val_inputs"])
                ax.scatter(held[:, 0], held[:, 1], facecolors="none", edgecolors="k", s=8, lw=0.5)
            ax.set_title(f"{key}: {name}", fontsize=9)
        fig.colorbar(image, ax=fig.axes[-1], shrink=0.8)
    fig.suptitle("g(x) over the input space (black circles: held-out points)")
    return fig


def generalisation_figure(exp: dict[str, Any]) -> Figure:
    """Training and held-out (validation) loss per epoch, one panel per model."""
    names = list(exp["models"])
    fig = Figure(figsize=(4.0 * len(names), 3.2), layout="constrained")
    for col, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), col + 1)
        runs = exp["models"][name]["runs"]
        band(ax, curves(runs, "loss_history"), "train", "tab:green")
        band(ax, curves(runs, "val_loss_history", per_epoch=False), "held out", "tab:purple")
        ax.set(title=name, xlabel="epoch", ylabel="loss", yscale="log")
        ax.legend(fontsize=8)
    fig.suptitle("Generalisation to held-out slices: train vs validation loss")
    return fig
