"""One toy training run: build NODE, ANODE or ResNet, train it, record what the figures need."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from ..._model import AugmentedNeuralODE
from ..._vector_fields import MLPVectorField
from ...datasets import ToyDataModule
from ...lightning import ANODEModule, NFECallback
from ._config import TrainingConfig
from ._nfe_map import nfe_map
from ._recorder import TrainingRecorder
from ._resnet import ResNet, match_resnet_hidden_dim

__all__ = [
    "MODEL_NAMES",
    "VIZ_POINTS",
    "build_feature_map",
    "torch_threads",
    "train_one",
    "viz_inputs",
]


MODEL_NAMES = ("NODE", "ANODE", "ResNet")
VIZ_POINTS = 256
_GRID_SIZE = 48
_TRAJECTORY_TIMES = 21


def _num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_feature_map(name: str, dim: int, config: TrainingConfig) -> nn.Module:
    """The feature map ``phi`` of model ``name`` (``'NODE'``, ``'ANODE'`` or ``'ResNet'``).

    The ResNet's width is chosen so that its parameter count matches the NODE's
    vector field (the readout is the same size for both).
    """
    if name in ("NODE", "ANODE"):
        p = 0 if name == "NODE" else config.augment_dims
        field = MLPVectorField(dim + p, config.hidden_dim, time_dependent=config.time_dependent)
        return AugmentedNeuralODE(
            field, augment_dims=p, solver=config.solver, atol=config.tol, rtol=config.tol
        )
    if name == "ResNet":
        node_field = MLPVectorField(dim, config.hidden_dim, time_dependent=config.time_dependent)
        hidden = match_resnet_hidden_dim(
            _num_parameters(node_field), dim, num_blocks=config.resnet_blocks
        )
        return ResNet(dim, hidden, config.resnet_blocks)
    raise ValueError(f"`name` must be one of {list(MODEL_NAMES)}, got {name!r}.")


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def viz_inputs(datamodule: ToyDataModule, seed: int) -> tuple[Tensor, Tensor]:
    """A fixed subset of the training set (every distinct point for g1d)."""
    x, y = datamodule.x, datamodule.y
    if x.shape[1] == 1 and torch.unique(x).numel() <= 2:
        grid = torch.linspace(-1.2, 1.2, 13).unsqueeze(1)
        return grid, torch.sign(grid)
    if x.shape[0] <= VIZ_POINTS:
        return x, y
    index = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    return x[index[:VIZ_POINTS]], y[index[:VIZ_POINTS]]


def _trajectory(feature_map: nn.Module, x: Tensor) -> tuple[list[float], Tensor]:
    if isinstance(feature_map, AugmentedNeuralODE):
        times = torch.linspace(0.0, 1.0, _TRAJECTORY_TIMES)
        return times.tolist(), feature_map.trajectory(x, times)
    states = feature_map.trajectory(x)
    return torch.linspace(0.0, 1.0, states.shape[0]).tolist(), states


def _output_map(module: nn.Module, datamodule: ToyDataModule) -> dict[str, Any] | None:
    """Predictions over a grid of the input space (Figure 9), for 1-D and 2-D inputs."""
    x = datamodule.x
    reach = float(x.abs().max()) * 1.25
    if x.shape[1] == 1:
        axis = torch.linspace(-reach, reach, 201)
        with torch.no_grad():
            out = module(axis.unsqueeze(1))[:, 0]
        return {"axis": axis.tolist(), "values": out.tolist()}
    if x.shape[1] == 2:
        axis = torch.linspace(-reach, reach, _GRID_SIZE)
        grid = torch.cartesian_prod(axis, axis).flip(1)  # rows vary x2, columns x1
        with torch.no_grad():
            out = module(grid)[:, 0].reshape(_GRID_SIZE, _GRID_SIZE)
        return {"axis": axis.tolist(), "values": out.tolist()}
    return None


def train_one(
    name: str,
    datamodule: ToyDataModule,
    config: TrainingConfig,
    seed: int,
    *,
    readout: bool,
    viz: tuple[Tensor, Tensor] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    pl.seed_everything(seed, workers=False, verbose=False)
    dim = datamodule.dim
    feature_map = build_feature_map(name, dim, config)
    is_ode = isinstance(feature_map, AugmentedNeuralODE)
    feature_dim = dim + (feature_map.augment_dims if is_ode else 0)
    module = ANODEModule(
        feature_map,
        task="regression",
        num_outputs=1,
        readout=readout,
        feature_dim=feature_dim,
        loss="smooth_l1",
        lr=config.lr,
    )
    steps_per_epoch = math.ceil(datamodule.x.shape[0] / datamodule.batch_size)
    viz_x = viz[0] if viz is not None else datamodule.x[:2]
    recorder = TrainingRecorder(
        feature_map,
        viz_x,
        total_steps=steps_per_epoch * config.epochs,
        num_snapshots=config.snapshots if viz is not None else 2,
    )
    nfe = NFECallback(prog_bar=True) if is_ode else None
    has_val = datamodule.x_val is not None
    trainer = pl.Trainer(
        max_epochs=config.epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        # Runs may share the terminal across processes: the bar is over runs (map_jobs).
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if has_val else 0,
        callbacks=[c for c in (nfe, recorder) if c is not None],
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    wall = time.perf_counter() - start

    module.eval()
    with torch.no_grad():
        final_loss = nn.functional.smooth_l1_loss(module(datamodule.x), datamodule.y).item()
        final_val = (
            nn.functional.smooth_l1_loss(module(datamodule.x_val), datamodule.y_val).item()
            if has_val
            else None
        )
    history = nfe.history if nfe is not None else []
    # Each input's cost under the trained flow, solved per sample (every seed: the claim
    # compares seeds; the map itself is kept with the figure data of the first).
    per_input = nfe_map(feature_map, datamodule.x) if is_ode else None
    run = {
        "seed": seed,
        "steps_per_epoch": steps_per_epoch,
        "loss_history": recorder.losses,
        "val_loss_history": recorder.val_losses,
        "nfe_forward": [float(step.nfe_forward) for step in history],
        "nfe_backward": [float(step.nfe_backward) for step in history],
        "final_loss": final_loss,
        "final_val_loss": final_val,
        "wall_time_s": wall,
    }
    if per_input is not None:
        run["nfe_per_input"] = per_input["summary"]
    viz_data = None
    if viz is not None:
        with torch.no_grad():
            times, states = _trajectory(feature_map, viz[0])
            viz_data = {
                "snapshots": recorder.snapshots,
                "trajectory_times": times,
                "trajectory": states.tolist(),
                "output_map": _output_map(module, datamodule),
                "nfe_map": per_input,
            }
    info = {
        "num_parameters": _num_parameters(module),
        "hidden_dim": (
            feature_map.hidden_dim if isinstance(feature_map, ResNet) else config.hidden_dim
        ),
        "augment_dims": feature_map.augment_dims,
    }
    return run, viz_data, info
