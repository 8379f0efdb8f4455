"""The per-input NFE map of the toy report: each input's cost, solved per sample."""

from __future__ import annotations

import json

import pytest
import torch
from matplotlib.figure import Figure

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.experiments.toy._nfe_map import (
    GRID_SIZE_1D,
    GRID_SIZE_2D,
    input_grid,
    nfe_map,
    nfe_maps_figure,
)


def _model(dim: int, p: int = 1, **kwargs) -> AugmentedNeuralODE:
    torch.manual_seed(0)
    return AugmentedNeuralODE(MLPVectorField(dim + p, 8), augment_dims=p, **kwargs)


def test_the_map_is_each_grid_inputs_own_solve():
    model = _model(1)
    x = torch.tensor([[-1.0], [1.0]])
    grid = nfe_map(model, x)
    axis, points = input_grid(x)
    assert grid["axis"] == axis.tolist() and len(grid["nfe"]) == GRID_SIZE_1D
    assert axis[0] == pytest.approx(-1.25) and axis[-1] == pytest.approx(1.25)
    # The same counts as a per-sample solve of a few grid inputs, one at a time.
    alone = _model(1, backend="torchode")
    alone.load_state_dict(model.state_dict())
    for i in (0, 57, 100, 200):
        alone(points[i : i + 1])
        assert grid["nfe"][i] == alone.stats.per_sample.nfe.item()
    nfe = torch.tensor(grid["nfe"])
    assert grid["summary"]["max"] == nfe.max().item()
    assert grid["summary"]["mean"] == pytest.approx(nfe.mean().item())
    # The model itself is left as it was: its backend, its counts.
    assert model.backend == "native" and model.nfe.total == 0


def test_the_2d_map_is_a_grid_and_higher_dimensions_have_none():
    grid = nfe_map(_model(2), torch.randn(20, 2))
    assert torch.tensor(grid["nfe"]).shape == (GRID_SIZE_2D, GRID_SIZE_2D)
    assert nfe_map(_model(3), torch.randn(20, 3)) is None
    assert nfe_map(_model(2, solver="rk4"), torch.randn(20, 2)) is None  # not a torchode solver


def test_the_figure_draws_the_maps_it_finds_and_nothing_without():
    def entry(dim):
        x = torch.randn(20, dim)
        models = {
            name: {"viz": {"nfe_map": nfe_map(_model(dim, p), x)}}
            for name, p in (("NODE", 0), ("ANODE", 1))
        }
        return {"dim": dim, "models": models}

    results = {"experiments": {"g1d": entry(1), "spheres_d2": entry(2)}}
    json.dumps(results)  # what results.json holds
    fig = nfe_maps_figure(results)
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # a curve, two maps, a color bar
    assert nfe_maps_figure({"experiments": {"separable": entry(2)}}) is None
