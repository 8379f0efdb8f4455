"""Claims, figures and ``report.md`` of ``anode-experiments augmentations``.

Everything is computed from the results dict (the content of ``results.json``), so the
report can be rebuilt from the file, and the checks tested on synthetic results. The
thresholds were fixed before the runs; a claim that fails is reported as failing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .. import __version__
from .._atomic import save_figure, write_text_atomic
from .._summary import format_mean_std
from ._augmentations import (
    AUGMENTATION_KINDS,
    AUGMENTATION_TASKS,
    AugmentationsConfig,
    run_augmentations,
)
from ._claims import ClaimCheck

__all__ = [
    "AUGMENTATION_CLAIMS",
    "augmentation_figures",
    "augmentations_command",
    "augmentations_report_command",
    "check_augmentation_claims",
    "render_augmentations_report",
    "write_augmentations_outputs",
]

FIT_MAX = 0.01  # a fitted g1d: MSE below this, every seed
NODE_G1D_MIN = 0.4  # a 1-D flow cannot do better than MSE 1 on g1d; 0.4 leaves room
OSCILLATOR_GAP = 10.0  # "fits the oscillator": 10 times lower loss than NODE
_AUGMENTED = ("zeros", "input_layer", "second_order")
_VERDICT = {True: "holds", False: "**does not hold**", None: "not run"}


def _finals(results: dict[str, Any], task: str, kind: str) -> np.ndarray:
    return np.array([r["final_loss"] for r in results[task][kind]["runs"]], dtype=float)


def _late_nfe(results: dict[str, Any], task: str, kind: str, key: str = "nfe_forward") -> float:
    """Mean NFE per step over the last tenth of training, averaged over seeds."""
    values = []
    for run in results[task][kind]["runs"]:
        nfe = np.asarray(run[key], dtype=float)
        if nfe.size:
            values.append(nfe[-max(1, nfe.size // 10) :].mean())
    return float(np.mean(values)) if values else float("nan")


def _present(results: dict[str, Any], task: str, *kinds: str) -> bool:
    return task in results and all(k in results[task] for k in kinds)


def _check(
    key: str,
    source: str,
    claim: str,
    criterion: str,
    needs: tuple[str, tuple[str, ...]],
    measure: Callable[[dict[str, Any]], tuple[bool, str, dict[str, Any]]],
) -> Callable[[dict[str, Any]], ClaimCheck]:
    def check(results: dict[str, Any]) -> ClaimCheck:
        task, kinds = needs
        if not _present(results, task, *kinds):
            return ClaimCheck(key, source, claim, criterion, f"not run ({task} missing)", None)
        holds, measured, figures = measure(results)
        return ClaimCheck(key, source, claim, criterion, measured, bool(holds), figures)

    return check


def _g1d_fits(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    finals = {k: _finals(r, "g1d", k) for k in _AUGMENTED}
    holds = all((v < FIT_MAX).all() for v in finals.values())
    measured = "; ".join(f"{k} max {v.max():.2g}" for k, v in finals.items())
    return holds, measured, {k: v.tolist() for k, v in finals.items()}


def _g1d_node(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    node = _finals(r, "g1d", "NODE")
    return bool((node >= NODE_G1D_MIN).all()), f"NODE min {node.min():.3g}", {"NODE": node.tolist()}


def _lower_loss_than_node(task: str) -> Callable[[dict[str, Any]], tuple[bool, str, dict]]:
    def measure(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        means = {k: float(_finals(r, task, k).mean()) for k in AUGMENTATION_KINDS}
        holds = all(means[k] < means["NODE"] for k in _AUGMENTED)
        return holds, ", ".join(f"{k} {v:.3g}" for k, v in means.items()), means

    return measure


def _fewer_nfe(task: str, kind: str, than: tuple[str, ...]) -> Callable[..., tuple]:
    def measure(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        nfe = {k: _late_nfe(r, task, k) for k in (kind, *than)}
        holds = all(nfe[kind] < nfe[k] for k in than)
        return holds, ", ".join(f"{k} {v:.1f}" for k, v in nfe.items()), nfe

    return measure


def _fewer_nfe_than_node(task: str) -> Callable[..., tuple]:
    def measure(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        nfe = {k: _late_nfe(r, task, k) for k in AUGMENTATION_KINDS}
        holds = all(nfe[k] < nfe["NODE"] for k in _AUGMENTED)
        return holds, ", ".join(f"{k} {v:.1f}" for k, v in nfe.items()), nfe

    return measure


def _oscillator_gap(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    means = {k: float(_finals(r, "oscillator", k).mean()) for k in AUGMENTATION_KINDS}
    holds = all(means["NODE"] >= OSCILLATOR_GAP * means[k] for k in _AUGMENTED)
    return holds, ", ".join(f"{k} {v:.3g}" for k, v in means.items()), means


def _oscillator_lowest(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    means = {k: float(_finals(r, "oscillator", k).mean()) for k in AUGMENTATION_KINDS}
    best = min(means, key=means.__getitem__)
    return best == "second_order", f"lowest: {best} ({means[best]:.3g})", means


def _matched(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    gaps = {
        f"{task}/{kind}": abs(e["num_parameters"] - e["parameter_budget"]) / e["parameter_budget"]
        for task in AUGMENTATION_TASKS
        if task in r
        for kind, e in r[task].items()
    }
    worst = max(gaps, key=gaps.__getitem__)
    return gaps[worst] <= 0.05, f"largest gap {gaps[worst]:.1%} ({worst})", gaps


_ALL = AUGMENTATION_KINDS
#: The checked claims, in report order.
AUGMENTATION_CLAIMS: tuple[Callable[[dict[str, Any]], ClaimCheck], ...] = (
    _check(
        "matched_parameters",
        "this experiment",
        "The models are compared at matched parameter counts.",
        "every model within 5% of the zero-augmented model's count",
        ("g1d", ()),
        _matched,
    ),
    _check(
        "g1d_every_augmentation_fits",
        "Dupont et al. 2019, §3",
        "Every augmentation (zeros, input layer, second order) fits g1d.",
        f"every seed: final MSE < {FIT_MAX}",
        ("g1d", _AUGMENTED),
        _g1d_fits,
    ),
    _check(
        "g1d_node_fails",
        "Dupont et al. 2019, §3",
        "A plain Neural ODE cannot fit g1d (1-D trajectories cannot cross).",
        f"every seed: NODE final MSE >= {NODE_G1D_MIN}",
        ("g1d", ("NODE",)),
        _g1d_node,
    ),
    _check(
        "spheres_augmented_lower_loss",
        "Dupont et al. 2019, §4.1",
        "On the 2-D spheres every augmentation reaches a lower loss than NODE.",
        "mean final MSE over seeds: each augmented kind < NODE",
        ("spheres_d2", _ALL),
        _lower_loss_than_node("spheres_d2"),
    ),
    _check(
        "spheres_augmented_fewer_nfe",
        "Dupont et al. 2019, §5.1",
        "On the 2-D spheres every augmentation needs fewer forward NFE than NODE.",
        "mean forward NFE per step, last 10% of training: each augmented kind < NODE",
        ("spheres_d2", _ALL),
        _fewer_nfe_than_node("spheres_d2"),
    ),
    _check(
        "spheres_input_layer_fewer_nfe_than_zeros",
        "Massaroli et al. 2020, §5",
        "A learned input layer needs fewer forward NFE than zero augmentation.",
        "spheres d=2, mean forward NFE per step, last 10%: input_layer < zeros",
        ("spheres_d2", ("zeros", "input_layer")),
        _fewer_nfe("spheres_d2", "input_layer", ("zeros",)),
    ),
    _check(
        "oscillator_every_augmentation_fits",
        "Norcliffe et al. 2020, §4",
        "Every augmentation fits the damped oscillator, which NODE cannot (its "
        "trajectories all pass through 0 at the same times).",
        f"mean final MSE: NODE >= {OSCILLATOR_GAP:g} x each augmented kind's",
        ("oscillator", _ALL),
        _oscillator_gap,
    ),
    _check(
        "oscillator_second_order_lowest_loss",
        "Norcliffe et al. 2020, §4",
        "Second order has the lowest loss on the oscillator (a second-order system).",
        "mean final MSE over seeds: second_order lowest of the four",
        ("oscillator", _ALL),
        _oscillator_lowest,
    ),
    _check(
        "oscillator_second_order_fewer_nfe",
        "Norcliffe et al. 2020, §4",
        "Second order needs fewer forward NFE than zero augmentation on the oscillator.",
        "mean forward NFE per step, last 10%: second_order < zeros",
        ("oscillator", ("zeros", "second_order")),
        _fewer_nfe("oscillator", "second_order", ("zeros",)),
    ),
)


def check_augmentation_claims(results: dict[str, Any]) -> list[ClaimCheck]:
    """Every claim of :data:`AUGMENTATION_CLAIMS` checked on ``results`` (by task)."""
    return [check(results) for check in AUGMENTATION_CLAIMS]


# ---------------------------------------------------------------------------- figures
_COLOURS = {"NODE": "C3", "zeros": "C0", "input_layer": "C2", "second_order": "C1"}


def _mean_curve(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.mean([np.asarray(run[key], dtype=float) for run in runs], axis=0)


def augmentation_figures(results: dict[str, Any], output_dir: str) -> list[str]:
    """Loss, NFE and oscillator figures into ``output_dir``; returns the file names."""
    from matplotlib.figure import Figure

    tasks = [t for t in AUGMENTATION_TASKS if t in results]
    written = []
    for name, key, ylabel in (
        ("augmentations_loss.png", "loss_history", "training MSE (mean over seeds)"),
        ("augmentations_nfe.png", "nfe_forward", "NFE per step (mean over seeds)"),
    ):
        fig = Figure(figsize=(4 * len(tasks), 3.2), layout="constrained")
        axes = fig.subplots(1, len(tasks), squeeze=False)[0]
        for ax, task in zip(axes, tasks, strict=True):
            for kind, entry in results[task].items():
                ax.plot(_mean_curve(entry["runs"], key), label=kind, color=_COLOURS.get(kind))
                if key == "nfe_forward" and any(r["nfe_backward"][-1] for r in entry["runs"]):
                    backward = _mean_curve(entry["runs"], "nfe_backward")
                    ax.plot(backward, ls=":", color=_COLOURS.get(kind), alpha=0.7)
            ax.set_title(task)
            ax.set_xlabel("training step")
            if key == "loss_history":
                ax.set_yscale("log")
        axes[0].set_ylabel(ylabel + ("\nsolid: forward, dotted: backward" if "nfe" in key else ""))
        axes[-1].legend(fontsize=8)
        save_figure(fig, os.path.join(output_dir, name), dpi=100)
        written.append(name)
    if "oscillator" in results:
        kinds = [k for k in results["oscillator"] if "viz" in results["oscillator"][k]]
        if kinds:
            fig = Figure(figsize=(3.2 * len(kinds), 3.0), layout="constrained")
            axes = fig.subplots(1, len(kinds), squeeze=False, sharey=True)[0]
            for ax, kind in zip(axes, kinds, strict=True):
                viz = results["oscillator"][kind]["viz"]
                for i, (truth, pred) in enumerate(
                    zip(viz["truth"], viz["prediction"], strict=True)
                ):
                    colour = f"C{i % 10}"
                    ax.plot(viz["times"], truth, color=colour, lw=1, alpha=0.5)
                    ax.plot(viz["times"], pred, "o--", color=colour, ms=3)
                ax.set_title(kind)
                ax.set_xlabel("t")
            axes[0].set_ylabel("x(t): truth (line), prediction (dots)")
            save_figure(fig, os.path.join(output_dir, "augmentations_oscillator.png"), dpi=100)
            written.append("augmentations_oscillator.png")
    return written


# ---------------------------------------------------------------------------- report
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
                f"{_late_nfe(results, task, kind):.1f} | "
                f"{_late_nfe(results, task, kind, 'nfe_backward'):.1f} | "
                f"{format_mean_std([r['seconds'] for r in runs], '.1f')} |"
            )
    return lines


def render_augmentations_report(document: dict[str, Any], figures: list[str]) -> str:
    """``report.md`` of a results document (the content of ``results.json``)."""
    results = document["results"]
    checks = [ClaimCheck(**c) for c in document["claims"]]
    seeds = len(next(iter(next(iter(results.values())).values()))["runs"])
    held = sum(c.holds is True for c in checks)
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
        f"## Claims ({held} of {len(checks)} hold)",
        "",
        "| # | Source | Claim | Test | Measured | Verdict |",
        "|---|---|---|---|---|---|",
        *(
            f"| {i} | {c.section} | {c.claim} | {c.criterion} | {c.measured} "
            f"| {_VERDICT[c.holds]} |"
            for i, c in enumerate(checks, 1)
        ),
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


def _print_summary(document: dict[str, Any], output_dir: str, files: list[str]) -> None:
    print(f"\nWrote {len(files)} files to {output_dir}: {', '.join(files)}")
    for claim in document["claims"]:
        verdict = {True: "HOLDS", False: "DOES NOT HOLD", None: "not run"}[claim["holds"]]
        print(f"  [{verdict}] {claim['key']}: {claim['measured']}")


def augmentations_command(namespace: Any, argv: Sequence[str]) -> int:
    """``anode-experiments augmentations``: run, check the claims, write the outputs.

    Args:
        namespace: the subcommand's parsed options (the fields of
            :class:`AugmentationsConfig`, ``workers`` and ``output_dir``).
        argv: the command line, recorded in the report.
    """
    values = {f.name: namespace[f.name] for f in dataclasses.fields(AugmentationsConfig)}
    config = AugmentationsConfig(**values)
    start = time.perf_counter()
    results = run_augmentations(config, workers=namespace.workers)
    document = {
        "command": " ".join(["anode-experiments", *argv]),
        "experiment": "augmentations",
        "config": config.to_dict(),
        "wall_time_s": time.perf_counter() - start,
        "environment": {
            "anode_plugin": __version__,
            "torch": torch.__version__,
            "workers": namespace.workers,
            "cpu_count": os.cpu_count(),
        },
        "results": results,
    }
    files = write_augmentations_outputs(document, namespace.output_dir)
    _print_summary(document, namespace.output_dir, files)
    return 0


def augmentations_report_command(document: dict[str, Any], path: str) -> int:
    """``anode-experiments report results.json`` for an augmentations run: rebuild it."""
    output_dir = os.path.dirname(os.path.abspath(path))
    files = write_augmentations_outputs(document, output_dir)
    _print_summary(document, output_dir, files)
    return 0
