"""Train NODE, ANODE and ResNet over several seeds on one toy data set; collect results.

Every (data set, model, seed) training run is an independent job, described by a
picklable ``RunSpec`` and trained by ``train_run`` in this process or in a worker
process. Everything a figure or the report needs ends up in a JSON-ready ``dict``:
per-seed histories and final figures, plus, for the first seed, the data behind the
flow, feature and output-map figures.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from .._model import AugmentedNeuralODE
from .._validation import check_choice
from .._vector_fields import MLPVectorField
from ..datasets import ToyDataModule
from ..lightning import ANODEModule, NFECallback
from ..lightning._quiet import quiet_lightning
from ._config import TrainingConfig
from ._nfe_map import nfe_map
from ._pool import map_jobs
from ._recorder import TrainingRecorder
from ._resnet import ResNet, match_resnet_hidden_dim

__all__ = [
    "MODEL_NAMES",
    "RunGroup",
    "RunSpec",
    "build_feature_map",
    "run_groups",
    "run_models",
    "train_run",
]

MODEL_NAMES = ("NODE", "ANODE", "ResNet")
_VIZ_POINTS = 256
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
def _threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _viz_inputs(datamodule: ToyDataModule, seed: int) -> tuple[Tensor, Tensor]:
    """A fixed subset of the training set (every distinct point for g1d)."""
    x, y = datamodule.x, datamodule.y
    if x.shape[1] == 1 and torch.unique(x).numel() <= 2:
        grid = torch.linspace(-1.2, 1.2, 13).unsqueeze(1)
        return grid, torch.sign(grid)
    if x.shape[0] <= _VIZ_POINTS:
        return x, y
    index = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    return x[index[:_VIZ_POINTS]], y[index[:_VIZ_POINTS]]


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


def _train_one(
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


@dataclass(frozen=True)
class RunGroup:
    """Every model over every seed on one data set: one entry of ``results["experiments"]``.

    Args:
        key: the entry's name, e.g. ``"spheres_d2"``.
        title: a one-line description of the experiment for the report.
        make_datamodule: builds the data module of one seed (data and shuffle); it must
            pickle (a module-level function or a ``functools.partial`` of a data module
            class) to run in worker processes.
        config: training settings (seeds, epochs, solver, ...).
        readout: ``False`` fits the flow alone (the prediction is ``phi(x)``'s first
            coordinates), as for ``g1d``.
        models: which of ``MODEL_NAMES`` to train.
    """

    key: str
    title: str
    make_datamodule: Callable[[int], ToyDataModule]
    config: TrainingConfig
    readout: bool = True
    models: tuple[str, ...] = MODEL_NAMES

    def __post_init__(self) -> None:
        for name in self.models:
            check_choice("models", name, MODEL_NAMES)

    def specs(self) -> list[RunSpec]:
        """The group's runs, seed by seed and model by model within a seed."""
        return [
            RunSpec(self, name, seed, with_viz=index == 0)
            for index, seed in enumerate(self.config.seed_list)
            for name in self.models
        ]


@dataclass(frozen=True)
class RunSpec:
    """One training run: model ``model`` of ``group`` with seed ``seed``.

    Args:
        group: the data set and settings the run belongs to.
        model: one of ``MODEL_NAMES``.
        seed: seeds the data, the shuffle and the initial weights.
        with_viz: also record the data behind the figures (the first seed of a group).
    """

    group: RunGroup
    model: str
    seed: int
    with_viz: bool = False

    def describe(self) -> str:
        """A short name for progress displays."""
        return f"{self.group.key} {self.model} seed {self.seed}"

    def cost(self) -> float:
        """A rough relative cost (epochs x points), to hand the longest runs out first."""
        config = self.group.config
        sizes = ("num_points", "num_inner", "num_outer", "num_upper", "num_lower")
        points = sum(getattr(config, name, 0) for name in sizes)
        # Measured on the default toy runs: a ResNet run takes about a third of the
        # time of an ODE run on the same data.
        return config.epochs * max(points, 1) * (0.3 if self.model == "ResNet" else 1.0)


def train_run(spec: RunSpec) -> dict[str, Any]:
    """Train the run of ``spec`` from scratch; everything it needs is built and seeded here.

    A run depends on nothing but its spec: it builds its own data module and seeds
    every generator itself, so it gives the same figures in any process and order.

    Returns:
        ``run`` (per-seed histories and final figures), ``info`` (the model's size),
        and, when ``spec.with_viz``, ``viz`` (figure data) and ``data`` (the inputs
        the figures show).
    """
    group = spec.group
    # Seeded before anything else, so that a data module drawing from the global
    # generators gets the same data whichever runs this process trained before.
    pl.seed_everything(spec.seed, workers=False, verbose=False)
    with quiet_lightning(".*`isinstance.*treespec.*"), _threads(group.config.num_threads):
        datamodule = group.make_datamodule(spec.seed)
        viz = _viz_inputs(datamodule, spec.seed) if spec.with_viz else None
        run, viz_data, info = _train_one(
            spec.model, datamodule, group.config, spec.seed, readout=group.readout, viz=viz
        )
    outcome: dict[str, Any] = {"run": run, "info": info}
    if viz is not None:
        data = {
            "dim": datamodule.dim,
            "has_validation": datamodule.x_val is not None,
            "viz_inputs": viz[0].tolist(),
            "viz_labels": viz[1][:, 0].tolist(),
        }
        if datamodule.x_val is not None:
            data["val_inputs"] = datamodule.x_val[:_VIZ_POINTS].tolist()
            data["val_labels"] = datamodule.y_val[:_VIZ_POINTS, 0].tolist()
        outcome.update(viz=viz_data, data=data)
    return outcome


def run_groups(
    groups: Sequence[RunGroup], *, workers: int = 1, progress: bool = False
) -> dict[str, dict[str, Any]]:
    """Train every run of ``groups``, in ``workers`` processes; returns ``{key: result}``.

    The runs are independent, so they are spread over the workers longest first; the
    results are assembled in the groups' own order, so they do not depend on
    ``workers`` or on which run finishes first.

    Args:
        groups: the data sets and settings; their keys must differ.
        workers: worker processes, each running one run at a time with one torch
            thread; ``1`` trains every run in this process, one after another.
        progress: show a progress bar of runs done out of the total.

    Returns:
        Per group key, a JSON-ready dict: ``title``, ``config``, ``readout``,
        per-model ``runs`` (one per seed) and the first seed's ``viz`` data.
    """
    keys = [group.key for group in groups]
    if len(set(keys)) != len(keys):
        raise ValueError(f"`groups` must have distinct keys, got {keys}.")
    specs = [spec for group in groups for spec in group.specs()]
    longest_first = sorted(range(len(specs)), key=lambda i: -specs[i].cost())
    outcomes = map_jobs(
        train_run,
        specs,
        workers=workers,
        progress=progress,
        describe=RunSpec.describe,
        submit_order=longest_first,
    )
    results: dict[str, dict[str, Any]] = {
        group.key: {
            "title": group.title,
            "config": group.config.to_dict(),
            "readout": group.readout,
            "models": {},
        }
        for group in groups
    }
    for spec, outcome in zip(specs, outcomes, strict=True):
        result = results[spec.group.key]
        result.update(outcome.get("data", {}))
        entry = result["models"].setdefault(spec.model, {**outcome["info"], "runs": []})
        entry["runs"].append(outcome["run"])
        if "viz" in outcome:
            entry["viz"] = outcome["viz"]
    return results


def run_models(
    title: str,
    make_datamodule: Callable[[int], ToyDataModule],
    config: TrainingConfig,
    *,
    readout: bool = True,
    models: tuple[str, ...] = MODEL_NAMES,
    workers: int = 1,
) -> dict[str, Any]:
    """Train each model over the configured seeds on the data of ``make_datamodule(seed)``.

    Args:
        title: a one-line description of the experiment for the report.
        make_datamodule: builds the data module of one seed (data and shuffle); with
            ``workers > 1`` it must pickle (not a lambda).
        config: training settings (seeds, epochs, solver, ...).
        readout: ``False`` fits the flow alone (the prediction is ``phi(x)``'s first
            coordinates), as for ``g1d``.
        models: which of ``MODEL_NAMES`` to train.
        workers: worker processes (see ``run_groups``); the results do not depend on it.

    Returns:
        A JSON-ready dict: ``config``, ``dim``, ``readout``, per-model ``runs`` (one per
        seed) and the first seed's ``viz`` data.
    """
    group = RunGroup("runs", title, make_datamodule, config, readout=readout, models=models)
    return run_groups([group], workers=workers, progress=config.progress_bar)["runs"]
