"""The claims of ``anode-experiments augmentations``, each checked against ``results.json``.

The thresholds were fixed before the runs; a claim that fails is reported as failing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._shared import ClaimCheck, judged_on
from ._config import AUGMENTATION_KINDS, AUGMENTATION_TASKS

__all__ = [
    "AUGMENTATION_CLAIMS",
    "FIT_MAX",
    "OSCILLATOR_GAP",
    "check_augmentation_claims",
    "late_nfe",
]


FIT_MAX = 0.01  # a fitted g1d: MSE below this, every seed
NODE_G1D_MIN = 0.4  # a 1-D flow cannot do better than MSE 1 on g1d; 0.4 leaves room
OSCILLATOR_GAP = 10.0  # "fits the oscillator": 10 times lower loss than NODE
_AUGMENTED = ("zeros", "input_layer", "second_order")


def _finals(results: dict[str, Any], task: str, kind: str) -> np.ndarray:
    return np.array([r["final_loss"] for r in results[task][kind]["runs"]], dtype=float)


def late_nfe(results: dict[str, Any], task: str, kind: str, key: str = "nfe_forward") -> float:
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
        nfe = {k: late_nfe(r, task, k) for k in (kind, *than)}
        holds = all(nfe[kind] < nfe[k] for k in than)
        return holds, ", ".join(f"{k} {v:.1f}" for k, v in nfe.items()), nfe

    return measure


def _fewer_nfe_than_node(task: str) -> Callable[..., tuple]:
    def measure(r: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        nfe = {k: late_nfe(r, task, k) for k in AUGMENTATION_KINDS}
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
    """Every claim of :data:`AUGMENTATION_CLAIMS` checked on ``results`` (by task); a
    claim about the runs' outcome measured on fewer than ``MIN_SEEDS`` seeds is not
    judged (the parameter counts do not depend on seeds)."""
    seeds = min(
        (len(entry["runs"]) for task in results.values() for entry in task.values()),
        default=0,
    )
    checks = [check(results) for check in AUGMENTATION_CLAIMS]
    return [c if c.key == "matched_parameters" else judged_on(c, seeds) for c in checks]
