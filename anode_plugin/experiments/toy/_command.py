"""The toy subcommands of ``anode-experiments`` (``g1d``, ``spheres``, ``separable``,
``generalisation`` and ``toy`` for all): run, check the claims, write the outputs."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from ..._atomic import write_text_atomic
from .._shared import environment, print_claims, results_record, timed
from ._claims import check_all
from ._config import EXPERIMENTS, ToyConfig, TrainingConfig
from ._experiments import g1d_groups, generalisation_groups, separable_groups, spheres_groups
from ._figures import save_figures
from ._report import write_report
from ._runner import RunGroup, run_groups

__all__ = ["run_experiment", "toy_command", "toy_report_command", "write_outputs"]

_GROUPS: dict[str, Callable[[Any], list[RunGroup]]] = {
    "g1d": g1d_groups,
    "spheres": spheres_groups,
    "separable": separable_groups,
    "generalisation": generalisation_groups,
}


def run_experiment(name: str, config: TrainingConfig, *, workers: int = 1) -> dict[str, Any]:
    """Run experiment ``name`` (or every one for ``'toy'``); returns ``{key: result}``.

    Args:
        name: one of ``EXPERIMENTS`` or ``'toy'``.
        config: its configuration (a ``ToyConfig`` for ``'toy'``).
        workers: worker processes over which the runs of every experiment are spread
            (see ``run_groups``); the results do not depend on it.
    """
    if name == "toy":
        if not isinstance(config, ToyConfig):
            raise TypeError(f"`config` of 'toy' must be a ToyConfig, got {type(config).__name__}.")
        groups = [
            group
            for key, config_cls in EXPERIMENTS.items()
            for group in _GROUPS[key](config.scaled(config_cls))
        ]
    elif name in _GROUPS:
        groups = _GROUPS[name](config)
    else:
        raise ValueError(f"`name` must be one of {[*_GROUPS, 'toy']}, got {name!r}.")
    return run_groups(groups, workers=workers, progress=config.progress_bar)


def write_outputs(results: dict[str, Any], output_dir: str) -> list[str]:
    """Write ``results.json``, the PNG figures and ``report.md``; returns the file names."""
    os.makedirs(output_dir, exist_ok=True)
    results["claims"] = [check.as_dict() for check in check_all(results)]
    write_text_atomic(os.path.join(output_dir, "results.json"), json.dumps(results))
    figures = save_figures(results, output_dir)
    write_report(results, output_dir, figures)
    return ["results.json", "report.md", *figures]


def _config_from(namespace: Any, config_cls: type) -> Any:
    values = {f.name: namespace[f.name] for f in dataclasses.fields(config_cls)}
    for key, value in values.items():
        if isinstance(value, list):  # jsonargparse may hand back lists for tuples
            values[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return config_cls(**values)


def toy_command(name: str, namespace: Any, argv: Sequence[str]) -> int:
    """Run toy experiment ``name`` (or every one for ``'toy'``) from its parsed options.

    Args:
        name: one of ``EXPERIMENTS`` or ``'toy'``.
        namespace: the subcommand's parsed options (the configuration's fields,
            ``workers`` and ``output_dir``).
        argv: the command line, recorded in ``results.json``.
    """
    config = _config_from(namespace, ToyConfig if name == "toy" else EXPERIMENTS[name])
    experiments, seconds = timed(lambda: run_experiment(name, config, workers=namespace.workers))
    results = results_record(
        name,
        argv,
        config,
        seconds,
        environment(cpu_threads=config.num_threads, workers=namespace.workers),
        experiments=experiments,
    )
    files = write_outputs(results, namespace.output_dir)
    print_claims(results, namespace.output_dir, files)
    return 0


def toy_report_command(results: dict[str, Any], folder: str, shown: str) -> int:
    """``anode-experiments report``: rebuild a toy run's outputs in ``folder``.

    Args:
        results: the run's ``results.json``.
        folder: where its outputs are written.
        shown: the folder as the summary names it.
    """
    files = write_outputs(results, folder)
    print_claims(results, shown, files)
    return 0
