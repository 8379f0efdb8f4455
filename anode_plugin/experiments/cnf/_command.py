"""``anode-experiments cnf``: its ``--profile`` option, the run and the report command."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from jsonargparse import ArgumentParser

from .._shared import environment, print_claims, results_record, timed
from ._config import CNF_PROFILES, CNFConfig
from ._report import write_cnf_outputs
from ._run import run_cnf

__all__ = ["add_profile_argument", "cnf_command", "cnf_config", "cnf_report_command"]


def add_profile_argument(parser: ArgumentParser) -> None:
    """Add ``--profile`` (a name from :data:`CNF_PROFILES`) to the cnf subcommand."""
    parser.add_argument(
        "--profile",
        type=Literal[tuple(CNF_PROFILES)],
        default="default",
        help=(
            "Named settings (options given explicitly win): 'default' (about 5 minutes on "
            "2 cores) or 'long' (the 2-D densities, 4x the steps, 2 seeds, about 16 "
            "minutes)."
        ),
    )


def cnf_config(namespace: Any, argv: Sequence[str]) -> CNFConfig:
    """The settings: the profile's, then the options the command line gives."""
    given = {a.split("=", 1)[0].lstrip("-") for a in argv if a.startswith("--")}
    fields = {f.name for f in dataclasses.fields(CNFConfig)}
    values = {k: v for k, v in vars(namespace).items() if k in fields}
    values.update({k: v for k, v in CNF_PROFILES[namespace.profile].items() if k not in given})
    return CNFConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def cnf_report_command(results: dict[str, Any], output_dir: str) -> int:
    """Write the outputs of finished runs and print the claims; exit status 0."""
    files = write_cnf_outputs(results, output_dir)
    print_claims(results, output_dir, files)
    return 0


def cnf_command(namespace: Any, argv: Sequence[str]) -> int:
    """Run ``anode-experiments cnf`` from its parsed options; exit status 0."""
    config = cnf_config(namespace, argv)
    runs, seconds = timed(lambda: run_cnf(config, workers=namespace.workers))
    results = results_record(
        "cnf",
        argv,
        config,
        seconds,
        environment(cpu_threads=config.num_threads, workers=namespace.workers),
        runs=runs,
    )
    return cnf_report_command(results, namespace.output_dir)
