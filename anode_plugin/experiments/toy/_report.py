"""``report.md``: the paper's claims, the measured figures and whether each holds.

Everything is computed from the results dict (the content of ``results.json``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..._atomic import write_text_atomic
from ..._summary import format_mean_std
from .._shared import MIN_SEEDS, claims_table
from ._claim_checks import nfe_start_end
from ._claims import check_all

__all__ = ["render_report", "write_report"]


def _experiment_table(exp: dict[str, Any]) -> list[str]:
    has_val = bool(exp.get("has_validation"))
    header = "| Model | p | Parameters | Final train loss"
    header += " | Final held-out loss" if has_val else ""
    header += " | Forward NFE first -> last epoch | Seconds per seed |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name, model in exp["models"].items():
        runs = model["runs"]
        starts_ends = [nfe_start_end(r) for r in runs if r["nfe_forward"]]
        if starts_ends:
            start = np.mean([s for s, _ in starts_ends])
            end = np.mean([e for _, e in starts_ends])
            nfe = f"{start:.1f} -> {end:.1f}"
        else:
            nfe = "- (discrete)"
        row = (
            f"| {name} | {model['augment_dims']} | {model['num_parameters']} | "
            f"{format_mean_std([r['final_loss'] for r in runs])}"
        )
        if has_val:
            row += f" | {format_mean_std([r['final_val_loss'] for r in runs])}"
        row += f" | {nfe} | {format_mean_std([r['wall_time_s'] for r in runs], '.1f')} |"
        lines.append(row)
    return lines


def _time_table(results: dict[str, Any]) -> list[str]:
    """Where the seconds go: each data set's and model's jobs, and how parallel they ran."""
    rows, total_wall, total_cpu = [], 0.0, 0.0
    for key, exp in results["experiments"].items():
        for name, model in exp["models"].items():
            runs = [r for r in model["runs"] if "job_wall_time_s" in r]
            if not runs:
                continue
            wall = sum(r["job_wall_time_s"] for r in runs)
            cpu = sum(r["job_cpu_time_s"] for r in runs)
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            rows.append(f"| {key} | {name} | {len(runs)} | {wall:.1f} | {cpu:.1f} |")
    if not rows:  # results written before jobs were timed
        return []
    elapsed = results.get("wall_time_s", float("nan"))
    workers = results.get("environment", {}).get("workers", 1)
    return [
        "## Where the time goes",
        "",
        "Each job (data, training, evaluation, per-input NFE map) timed in its own process, "
        "summed over seeds.",
        "",
        "| Data set | Model | Jobs | Job seconds | Job CPU seconds |",
        "|---|---|---|---|---|",
        *rows,
        f"| all | all | | {total_wall:.1f} | {total_cpu:.1f} |",
        "",
        f"The runs took {elapsed:.0f} s of wall time in {workers} worker process(es): the "
        f"jobs' CPU seconds are {total_cpu / elapsed:.2f}x the wall time (at most "
        f"{workers}x when every worker computes all the time); job seconds are "
        f"{total_wall / elapsed:.2f}x it.",
        "",
    ]


def _config_line(exp: dict[str, Any]) -> str:
    cfg = exp["config"]
    skip = {"progress_bar", "snapshots"}
    return ", ".join(f"{k}={v}" for k, v in cfg.items() if k not in skip)


def render_report(results: dict[str, Any], figures: list[str] | None = None) -> str:
    """The Markdown report of ``results``; ``figures`` are PNG names to embed."""
    checks = check_all(results)
    counted = [c for c in checks if c.holds is not None]
    held = sum(c.holds for c in counted)
    unjudged = sum(bool(c.not_judged) for c in checks)
    env = results.get("environment", {})
    lines = [
        "# Augmented Neural ODEs: toy experiments (paper sections 3, 4 and 5.1)",
        "",
        f"Command: `{results.get('command', 'anode-experiments')}`  ",
        f"Wall time: {results.get('wall_time_s', float('nan')):.0f} s; "
        # Results written before runs were spread over processes ran in one process.
        f"runs in {env.get('workers', 1)} process(es), {env.get('cpu_threads', '?')} "
        "CPU thread(s) each  ",
        f"anode-plugin {env.get('anode_plugin', '?')}, torch {env.get('torch', '?')}",
        "",
        "Models: NODE (p = 0) and ANODE (p > 0) are `AugmentedNeuralODE`s with the paper's "
        "MLP vector field; ResNet is a stack of residual MLP blocks whose width matches "
        "the NODE's parameter count. All are trained with Adam and the SmoothL1 loss; "
        "losses are on the whole training set after training, NFE figures are the mean "
        "forward evaluations per training step. Mean ± standard deviation over seeds.",
        "",
        f"## Claims: {held} of {len(counted)} tested claims hold"
        + (f"; {unjudged} not judged (fewer than {MIN_SEEDS} seeds)" if unjudged else ""),
        "",
        *claims_table(checks),
        "",
    ]
    failed = [c for c in counted if not c.holds]
    if failed:
        lines += [
            "Claims that do not hold in this run are reported as measured; they were not "
            "tuned away. More seeds or epochs (`--seeds`, `--epochs_scale`) give a firmer "
            "answer.",
            "",
        ]
    for key, exp in results["experiments"].items():
        lines += [
            f"## {key}: {exp['title']}",
            "",
            *_experiment_table(exp),
            "",
            f"Configuration: {_config_line(exp)}",
            "",
        ]
    lines += _time_table(results)
    if figures:
        lines += ["## Figures", ""]
        for name in figures:
            lines += [f"### {name[:-4].replace('_', ' ')}", "", f"![{name}]({name})", ""]
    return "\n".join(lines)


def write_report(
    results: dict[str, Any], output_dir: str | os.PathLike[str], figures: list[str] | None = None
) -> str:
    """Write ``report.md`` into ``output_dir``; returns its path."""
    path = os.path.join(output_dir, "report.md")
    write_text_atomic(path, render_report(results, figures))
    return path
