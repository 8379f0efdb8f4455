"""Which inputs make a flow hard to solve: each input's forward NFE over the input space.

A trained model's flow is solved again on a grid of inputs with per-sample step sizes
(torchode), at the training solver and tolerance: each grid point gets the number of
evaluations its own solve needs, which a batch solved as one system (torchdyn,
torchdiffeq) cannot tell apart. The figure shows the map for NODE and ANODE; the
claim compares the maps' means over the seeds.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from ..._model import AugmentedNeuralODE
from ...solve import Autograd, Solve, TorchodeBackend

__all__ = ["GRID_SIZE_1D", "GRID_SIZE_2D", "MAPPED", "input_grid", "nfe_map", "nfe_maps_figure"]

#: Grid points along the axis of a 1-D input space and per axis of a 2-D one.
GRID_SIZE_1D = 201
GRID_SIZE_2D = 48


def input_grid(x: Tensor) -> tuple[Tensor, Tensor] | None:
    """A grid over the input space of data ``x`` (1-D or 2-D), reaching 1.25x the data.

    Returns:
        ``(axis, points)``: the axis ``[n]`` and the points, ``[n, 1]`` in 1-D and
        ``[n * n, 2]`` in 2-D (rows vary ``x2``, columns ``x1``); ``None`` otherwise.
    """
    reach = float(x.abs().max()) * 1.25
    if x.shape[1] == 1:
        axis = torch.linspace(-reach, reach, GRID_SIZE_1D)
        return axis, axis.unsqueeze(1)
    if x.shape[1] == 2:
        axis = torch.linspace(-reach, reach, GRID_SIZE_2D)
        return axis, torch.cartesian_prod(axis, axis).flip(1)
    return None


def nfe_map(model: AugmentedNeuralODE, x: Tensor) -> dict[str, Any] | None:
    """Each grid input's forward NFE under ``model``'s flow, solved per sample.

    Args:
        model: a trained model; it is not changed (a copy is solved).
        x: the training inputs, ``[n, d]``, whose extent the grid covers.

    Returns:
        ``{"axis": [...], "nfe": [...] or [[...]], "summary": {"mean", "p90", "max"}}``;
        ``None`` for inputs of more than two dimensions or a solver torchode lacks.
    """
    grid = input_grid(x)
    if grid is None or not isinstance(model.solver, str):
        return None
    if model.solver not in TorchodeBackend.SOLVERS:
        return None
    axis, points = grid
    per_sample = copy.deepcopy(model)
    per_sample.solve = Solve(TorchodeBackend(model.solver, model.atol, model.rtol), Autograd())
    with torch.no_grad():
        per_sample.features(points.to(model.t_span.device))
    stats = per_sample.stats.per_sample
    nfe = stats.nfe.double()
    if x.shape[1] == 2:
        nfe = nfe.reshape(len(axis), len(axis))
    return {"axis": axis.tolist(), "nfe": nfe.tolist(), "summary": stats.summary()}


def nfe_maps_figure(results: dict[str, Any]) -> Any:
    """Each input's forward NFE after training, NODE beside ANODE: a curve over the line
    for 1-D data, a map over the plane for 2-D data (one color scale per data set)."""
    import numpy as np
    from matplotlib.figure import Figure

    keys = [
        key
        for key in MAPPED
        if key in results["experiments"]
        and any(
            (m.get("viz") or {}).get("nfe_map")
            for m in results["experiments"][key]["models"].values()
        )
    ]
    if not keys:
        return None
    fig = Figure(figsize=(7.6, 3.2 * len(keys)), layout="constrained")
    rows = fig.add_gridspec(len(keys), 2)
    for row, key in enumerate(keys):
        exp = results["experiments"][key]
        maps = {
            name: model["viz"]["nfe_map"]
            for name, model in exp["models"].items()
            if (model.get("viz") or {}).get("nfe_map")
        }
        if exp.get("dim") == 1:
            ax = fig.add_subplot(rows[row, :])
            for name, grid in maps.items():
                ax.plot(grid["axis"], grid["nfe"], label=name, color=_COLORS.get(name))
            ax.set(title=f"{key}: forward NFE per input", xlabel="x", ylabel="NFE")
            ax.legend(fontsize=8)
            continue
        top = max(float(np.max(grid["nfe"])) for grid in maps.values())
        for col, (name, grid) in enumerate(list(maps.items())[:2]):
            ax = fig.add_subplot(rows[row, col])
            axis = grid["axis"]
            image = ax.imshow(
                np.asarray(grid["nfe"]),
                extent=(axis[0], axis[-1], axis[0], axis[-1]),
                origin="lower",
                cmap="magma",
                vmin=0,
                vmax=top,
            )
            mean = grid["summary"]["mean"]
            ax.set_title(f"{key}: {name} (mean {mean:.1f})", fontsize=9)
        fig.colorbar(image, ax=fig.axes[-1], shrink=0.8, label="forward NFE")
    fig.suptitle(
        "Which inputs are hard? Each input's forward NFE, solved per sample (torchode)\n"
        "(the spike at x = 0 is the solver's start-up at a zero state, in every model)",
        fontsize=10,
    )
    return fig


_COLORS = {"NODE": "tab:red", "ANODE": "tab:blue"}
#: The data sets drawn, in order: the paper's functions a NODE cannot represent.
MAPPED = ("g1d", "spheres_d1", "spheres_d2")
