"""The ``anode-experiments`` command: one subcommand per toy experiment, ``toy`` for all,
``augmentations``, ``cnf`` and ``report``.

The options of each subcommand come from its typed configuration dataclass (see
``toy``, ``augmentations`` and ``cnf``) through jsonargparse; there is no hand-written
argument parsing. Each experiment's package runs its subcommand.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from jsonargparse import ArgumentParser
from jsonargparse.typing import PositiveInt

from .._command_line import ExplainedParserErrors, check_output_folder, run_command
from ._shared import read_results, usable_cores
from .augmentations import (
    AugmentationsConfig,
    augmentations_command,
    augmentations_report_command,
)
from .cnf import CNFConfig, add_profile_argument, cnf_command, cnf_report_command
from .toy import EXPERIMENTS, ToyConfig, toy_command, toy_report_command

__all__ = ["build_parser", "main"]

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
        return toy_report_command(results, folder, os.path.dirname(sub.results) or ".")
    # Before any training: a full or unwritable folder is found now, not after the runs.
    check_output_folder(sub.output_dir, option="--output_dir")
    if name == "augmentations":
        return augmentations_command(sub, argv)
    if name == "cnf":
        return cnf_command(sub, argv)
    return toy_command(name, sub, argv)
