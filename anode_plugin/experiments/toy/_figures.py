"""Figures of the toy experiments, drawn from ``results.json`` alone.

Every function takes the results (or one experiment's entry) and returns a
``matplotlib.figure.Figure``; nothing touches pyplot's global state, so any
backend (Agg included) works and figures never leak between calls.
"""

from __future__ import annotations

import os
from typing import Any

from matplotlib.figure import Figure

from ..._atomic import save_figure
from ._curve_plots import loss_figure, nfe_figure, nfe_vs_loss_figure
from ._flow_plots import (
    feature_evolution_figure,
    flows_1d_figure,
    generalisation_figure,
    output_maps_figure,
    trajectories_2d_figure,
)
from ._nfe_map import nfe_maps_figure

__all__ = ["save_figures"]


def save_figures(results: dict[str, Any], output_dir: str | os.PathLike[str]) -> list[str]:
    """Draw every figure the results allow into ``output_dir``; returns the file names."""
    figures: dict[str, Figure | None] = {
        "losses.png": loss_figure(results),
        "nfe.png": nfe_figure(results),
        "nfe_vs_loss.png": nfe_vs_loss_figure(results),
        "flows_1d.png": flows_1d_figure(results),
        "trajectories_2d.png": trajectories_2d_figure(results),
        "output_maps.png": output_maps_figure(results),
        "nfe_per_input.png": nfe_maps_figure(results),
    }
    for key, exp in results["experiments"].items():
        if any(m.get("viz") for m in exp["models"].values()):
            figures[f"features_{key}.png"] = feature_evolution_figure(exp, key)
        if exp.get("has_validation"):
            figures[f"generalisation_{key}.png"] = generalisation_figure(exp)
    written = []
    for name, fig in figures.items():
        if fig is None:
            continue
        save_figure(fig, os.path.join(output_dir, name), dpi=110)
        written.append(name)
    return written
