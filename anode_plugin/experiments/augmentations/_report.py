"""``report.md`` and the command of ``anode-experiments augmentations``.

The claims are in ``_claims``, the figures in ``_figures``.

Everything is computed from the results dict (the content of ``results.json``), so the
report can be rebuilt from the file, and the checks tested on synthetic results. The
thresholds were fixed before the runs; a claim that fails is reported as failing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

from ..._atomic import write_text_atomic
from ..._summary import format_mean_std
from .._shared import ClaimCheck, claims_table, environment, print_claims, results_record, timed
from ._claims import (
    check_augmentation_claims,
    late_nfe,
)
from ._config import AUGMENTATION_TASKS, AugmentationsConfig
from ._figures import augmentation_figures
from ._run import run_augmentations

__all__ = [
    "augmentations_command",
    "augmentations_report_command",
    "render_augmentations_report",
    "write_augmentations_outputs",
]


def _results_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| Task | Model | Hidden | Parameters | Final MSE | Forward NFE (last 10%) "
        "| Backward NFE (last 10%) | Seconds per run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in AUGMENTATION_TASKS:
        for kind, entry in results.get(task, {}).items():
            runs = entry["runs"]
            lines.append(
                f"| {task} | {kind} | {entry['hidden_dim']} | {entry['num_parameters']} | "
                f"{format_mean_std([r['final_loss'] for r in runs])} | "
                f"{late_nfe(results, task, kind):.1f} | "
                f"{late_nfe(results, task, kind, 'nfe_backward'):.1f} | "
                f"{format_mean_std([r['seconds'] for r in runs], '.1f')} |"
            )
    return lines


def render_augmentations_report(document: dict[str, Any], figures: list[str]) -> str:
    """``report.md`` of a results document (the content of ``results.json``)."""
    results = document["results"]
    checks = [ClaimCheck(**c) for c in document["claims"]]
    seeds = len(next(iter(next(iter(results.values())).values()))["runs"])
    held = sum(c.holds is True for c in checks)
    judged = sum(c.holds is not None for c in checks)
    unjudged = sum(bool(c.not_judged) for c in checks)
    lines = [
        "# Augmentations: NODE vs zeros vs input layer vs second order",
        "",
        f"Command: `{document['command']}`; wall time {document['wall_time_s']:.0f} s with "
        f"{document['environment']['workers']} worker process(es); {seeds} seed(s) per model.",
        "",
        "Each model's hidden width is chosen so that its parameters (vector field, learned "
        "augmentation, readout) are within 5% of the zero-augmented model's. Losses are "
        "mean squared errors on the training data; ± is the standard deviation over seeds.",
        "",
        *_results_table(results),
        "",
        f"## Claims ({held} of {judged} judged claims hold"
        + (f"; {unjudged} not judged, fewer than 2 seeds)" if unjudged else ")"),
        "",
        *claims_table(checks, source="Source"),
        "",
        "## Figures",
        "",
        *(f"![{name}]({name})" for name in figures),
        "",
        "## Configuration",
        "",
        "```text",
        *(f"{k}: {v!r}" for k, v in document["config"].items()),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_augmentations_outputs(document: dict[str, Any], output_dir: str) -> list[str]:
    """Check the claims, then write ``results.json``, the figures and ``report.md``."""
    os.makedirs(output_dir, exist_ok=True)
    document["claims"] = [c.as_dict() for c in check_augmentation_claims(document["results"])]
    write_text_atomic(os.path.join(output_dir, "results.json"), json.dumps(document))
    figures = augmentation_figures(document["results"], output_dir)
    report = render_augmentations_report(document, figures)
    write_text_atomic(os.path.join(output_dir, "report.md"), report)
    return ["results.json", "report.md", *figures]


def augmentations_command(namespace: Any, argv: Sequence[str]) -> int:
    """``anode-experiments augmentations``: run, check the claims, write the outputs.

    Args:
        namespace: the subcommand's parsed options (the fields of
            :class:`AugmentationsConfig`, ``workers`` and ``output_dir``).
        argv: the command line, recorded in the report.
    """
    values = {f.name: namespace[f.name] for f in dataclasses.fields(AugmentationsConfig)}
    config = AugmentationsConfig(**values)
    results, seconds = timed(lambda: run_augmentations(config, workers=namespace.workers))
    document = results_record(
        "augmentations",
        argv,
        config,
        seconds,
        environment(workers=namespace.workers, cpu_count=os.cpu_count()),
        results=results,
    )
    files = write_augmentations_outputs(document, namespace.output_dir)
    print_claims(document, namespace.output_dir, files)
    return 0


def augmentations_report_command(document: dict[str, Any], path: str) -> int:
    """``anode-experiments report results.json`` for an augmentations run: rebuild it."""
    output_dir = os.path.dirname(os.path.abspath(path))
    files = write_augmentations_outputs(document, output_dir)
    print_claims(document, output_dir, files)
    return 0
