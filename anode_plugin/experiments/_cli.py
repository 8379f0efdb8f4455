"""The ``anode-experiments`` command: one subcommand per toy experiment, ``toy`` for all.

The options of each subcommand come from its typed configuration dataclass (see
``_config``) through jsonargparse; there is no hand-written argument parsing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from jsonargparse import ArgumentParser
from jsonargparse.typing import PositiveInt

from .. import __version__
from .._atomic import write_text_atomic
from .._command_line import ExplainedParserErrors, check_output_folder, run_command
from ._augmentations import AugmentationsConfig
from ._augmentations_report import augmentations_command, augmentations_report_command
from ._claim_check import summary_verdict
from ._claims import check_all
from ._cnf import CNFConfig
from ._cnf_command import add_profile_argument, cnf_command, cnf_report_command
from ._config import EXPERIMENTS, ToyConfig, TrainingConfig
from ._experiments import (
    g1d_groups,
    generalisation_groups,
    separable_groups,
    spheres_groups,
)
from ._pool import usable_cores
from ._report import write_report
from ._runner import RunGroup, run_groups

__all__ = ["build_parser", "main", "run_experiment", "write_outputs"]

_GROUPS: dict[str, Callable[[Any], list[RunGroup]]] = {
    "g1d": g1d_groups,
    "spheres": spheres_groups,
    "separable": separable_groups,
    "generalisation": generalisation_groups,
}
_HELP = {
    "g1d": "Section 3: g1d(x) = -x and the identity, fitted by the flow alone.",
    "spheres": "Sections 4.1 and 5.1: concentric spheres in d = 1 and d = 2.",
    "separable": "Section 4.1: two shifted sine curves, separable by a homeomorphism.",
    "generalisation": "Section 5.1: held-out angular slices of the 2-D spheres.",
    "toy": "Every toy experiment above, each with its own defaults (scaled by the flags).",
    "augmentations": "NODE vs zeros vs input-layer vs second-order augmentation (issue 14).",
    "cnf": (
        "Continuous normalizing flows: plain, variational and exact augmentation, flow "
        "matching; 2-D densities and 8x8 digits."
    ),
}


class _Parser(ExplainedParserErrors, ArgumentParser):
    """jsonargparse's parser, with the package's words where jsonargparse's mislead."""


def build_parser() -> ArgumentParser:
    """The command-line parser, one subcommand per experiment plus ``toy`` and ``report``."""
    parser = _Parser(
        prog="anode-experiments",
        description=(
            "Reproduce the toy experiments of Augmented Neural ODEs (Dupont, Doucet & Teh, "
            "2019): NODE vs ANODE vs ResNet over several seeds, with figures and a report."
        ),
        env_prefix="ANODE_EXPERIMENTS",
    )
    subcommands = parser.add_subcommands(dest="experiment")
    classes: dict[str, type] = {**EXPERIMENTS, "toy": ToyConfig, "cnf": CNFConfig}
    classes["augmentations"] = AugmentationsConfig
    for name, config_cls in classes.items():
        sub = _Parser(description=_HELP[name])
        sub.add_class_arguments(config_cls, None, as_group=False)
        sub.add_argument(
            "--output_dir",
            type=str,
            default=os.path.join("anode-results", name),
            help="Folder for results.json, report.md and the PNG figures.",
        )
        sub.add_argument(
            "--workers",
            type=PositiveInt,
            default=usable_cores(),
            help=(
                "Worker processes, one run (model x seed x data set) and one torch thread "
                "each; 1 trains every run in this process. The results do not depend on it. "
                "Default: every usable core."
            ),
        )
        if name == "cnf":
            add_profile_argument(sub)
        subcommands.add_subcommand(name, sub, help=_HELP[name])
    report = _Parser(description="Rebuild report.md and the figures from results.json.")
    report.add_argument("results", type=str, help="Path to a results.json.")
    subcommands.add_subcommand("report", report, help=report.description)
    return parser


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
    try:
        from ._plots import save_figures
    except ImportError as error:  # matplotlib is an optional dependency
        raise ImportError(
            "anode-experiments draws its figures with matplotlib: install it with "
            '`pip install "anode-plugin[examples]"`.'
        ) from error
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


def _print_summary(results: dict[str, Any], output_dir: str, files: list[str]) -> None:
    print(f"\nWrote {len(files)} files to {output_dir}: {', '.join(files)}")
    for claim in results["claims"]:
        print(f"  [{summary_verdict(claim)}] {claim['key']}: {claim['measured']}")


def _environment(threads: int, workers: int) -> dict[str, Any]:
    return {
        "anode_plugin": __version__,
        "torch": torch.__version__,
        "cpu_threads": threads,
        "workers": workers,
    }


_INTERRUPTED = (
    "anode-experiments: interrupted; the worker processes were stopped with it. The runs "
    "were not finished, so no new results were written (results.json, report.md and the "
    "figures are written when every run has finished, each whole or not at all)."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``anode-experiments`` and ``python -m anode_plugin.experiments``.

    Ctrl-C or a SIGTERM (a job scheduler's) stops the workers and the program at once;
    exit status 130 or 143. A user's mistake is answered in two lines, exit status 2
    (``ANODE_TRACEBACK=1`` shows the traceback).
    """

    def terminated(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the pool, which ends its workers

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        return run_command("anode-experiments", lambda: _main(argv), argv)
    except KeyboardInterrupt:
        print(_INTERRUPTED, file=sys.stderr)
        return 130
    except SystemExit as stop:
        if stop.code == 128 + signal.SIGTERM:
            print(_INTERRUPTED, file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def read_results(path: str) -> dict[str, Any]:
    """A ``results.json`` written by a run, or an error naming the file and its fault.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is truncated, not JSON, or not an experiment's results.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
        results = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        # Cut short: the text ends inside a string, or where more was expected.
        cut = isinstance(error, json.JSONDecodeError) and (
            error.msg.startswith("Unterminated string") or error.pos >= len(text.rstrip())
        )
        fault = "truncated" if cut else "not JSON"
        raise ValueError(
            f"`results` {path!r} cannot be read: the file is {fault} ({error}). "
            "It must be a results.json that anode-experiments wrote."
        ) from None
    if not isinstance(results, dict) or "experiment" not in results:
        raise ValueError(
            f"`results` {path!r} is JSON but not an experiment's results (no "
            "'experiment' key); it must be a results.json that anode-experiments wrote."
        )
    return results


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = build_parser().parse_args(argv)
    name = cfg.experiment
    sub = cfg[name]
    if name == "report":
        results = read_results(sub.results)
        folder = os.path.dirname(os.path.abspath(sub.results))
        check_output_folder(folder, option="results' folder", before="no report was written")
        if results.get("experiment") == "cnf":
            return cnf_report_command(results, folder)
        if results.get("experiment") == "augmentations":
            return augmentations_report_command(results, sub.results)
        files = write_outputs(results, folder)
        _print_summary(results, os.path.dirname(sub.results) or ".", files)
        return 0
    # Before any training: a full or unwritable folder is found now, not after the runs.
    check_output_folder(sub.output_dir, option="--output_dir")
    if name == "augmentations":
        return augmentations_command(sub, argv)
    if name == "cnf":
        return cnf_command(sub, argv, _environment(1, sub.workers))
    config_cls = ToyConfig if name == "toy" else EXPERIMENTS[name]
    config = _config_from(sub, config_cls)
    start = time.perf_counter()
    experiments = run_experiment(name, config, workers=sub.workers)
    results = {
        "command": " ".join(["anode-experiments", *argv]),
        "experiment": name,
        "config": config.to_dict(),
        "wall_time_s": time.perf_counter() - start,
        "environment": _environment(config.num_threads, sub.workers),
        "experiments": experiments,
    }
    files = write_outputs(results, sub.output_dir)
    _print_summary(results, sub.output_dir, files)
    return 0
