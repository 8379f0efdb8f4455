"""Train NODE, ANODE and ResNet over several seeds on one toy data set; collect results.

Every (data set, model, seed) training run is an independent job, described by a
picklable ``RunSpec`` and trained by ``train_run`` in this process or in a worker
process. Everything a figure or the report needs ends up in a JSON-ready ``dict``:
per-seed histories and final figures, plus, for the first seed, the data behind the
flow, feature and output-map figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl

from ..._validation import check_choice
from ...datasets import ToyDataModule
from ...lightning._quiet import quiet_lightning
from .._shared import map_jobs
from ._config import TrainingConfig
from ._train import MODEL_NAMES, VIZ_POINTS, torch_threads, train_one, viz_inputs

__all__ = [
    "RunGroup",
    "RunSpec",
    "run_groups",
    "run_models",
    "train_run",
]


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
    start, cpu_start = time.perf_counter(), time.process_time()
    # Seeded before anything else, so that a data module drawing from the global
    # generators gets the same data whichever runs this process trained before.
    pl.seed_everything(spec.seed, workers=False, verbose=False)
    with quiet_lightning(".*`isinstance.*treespec.*"), torch_threads(group.config.num_threads):
        datamodule = group.make_datamodule(spec.seed)
        viz = viz_inputs(datamodule, spec.seed) if spec.with_viz else None
        run, viz_data, info = train_one(
            spec.model, datamodule, group.config, spec.seed, readout=group.readout, viz=viz
        )
    # The whole job (data, training, evaluation, per-input NFE map), in its process: the
    # report's time table, and CPU / wall over all jobs tells whether the workers ran
    # in parallel.
    run["job_wall_time_s"] = time.perf_counter() - start
    run["job_cpu_time_s"] = time.process_time() - cpu_start
    outcome: dict[str, Any] = {"run": run, "info": info}
    if viz is not None:
        data = {
            "dim": datamodule.dim,
            "has_validation": datamodule.x_val is not None,
            "viz_inputs": viz[0].tolist(),
            "viz_labels": viz[1][:, 0].tolist(),
        }
        if datamodule.x_val is not None:
            data["val_inputs"] = datamodule.x_val[:VIZ_POINTS].tolist()
            data["val_labels"] = datamodule.y_val[:VIZ_POINTS, 0].tolist()
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
