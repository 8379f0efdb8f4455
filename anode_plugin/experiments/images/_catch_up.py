"""How fast each model reaches the NODE's final training loss (Figure 10's claim).

The paper: "ANODEs with 10 augmented channels achieve the same loss in roughly 10 times
fewer iterations" on MNIST, and with fewer NFE at every loss. Per seed, the NODE's
final loss is the target; each model's iterations (and cumulative forward NFE) until
its smoothed training loss first reaches it are the figures the claims compare.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "add_catch_up",
    "catch_up_lines",
    "moving_means",
    "smoothing_window",
    "steps_to_reach",
]


def smoothing_window(steps: int) -> int:
    """The moving-average window of a run of ``steps`` iterations: a tenth, 1 to 50.

    One batch's loss is noisy (batch 32); the average over a window is what "reaches a
    loss" means here, and the NODE's final loss is the average over its last window.
    """
    return max(1, min(50, steps // 10))


def _moving_means(losses: Sequence[float], window: int) -> Iterator[float]:
    # Each window summed afresh (at most 50 terms): a NaN or infinite loss spoils only
    # the windows that hold it, where a running sum would stay NaN for good.
    for step in range(1, len(losses) + 1):
        yield math.fsum(losses[max(0, step - window) : step]) / min(step, window)


def moving_means(losses: Sequence[float], window: int) -> list[float]:
    """The trailing ``window``-step mean of ``losses`` at each iteration (over the steps
    so far before ``window`` of them)."""
    return list(_moving_means(losses, window))


def steps_to_reach(losses: Sequence[float], target: float, window: int) -> int | None:
    """The first iteration (1-based) whose trailing ``window``-step mean loss is at most
    ``target``; ``None`` if the run never gets there."""
    for step, mean in enumerate(_moving_means(losses, window), start=1):
        if mean <= target:
            return step
    return None


def add_catch_up(runs: list[dict[str, Any]]) -> None:
    """Add to each run, in place, the iterations and cumulative forward NFE until its
    smoothed training loss reaches its seed's NODE's final loss.

    Keys added: ``node_final_loss`` (the target: the NODE's last moving mean, computed
    as every other, so the NODE reaches it at its last step at the latest),
    ``steps_to_node_loss`` and ``nfe_to_node_loss`` (``None`` when the run never reaches
    the target; a claim then counts it as never). Runs of a seed without a NODE get
    nothing.
    """
    nodes = {r["seed"]: r for r in runs if r["model"] == "node"}
    for run in runs:
        node = nodes.get(run["seed"])
        if node is None or "history" not in run or not node.get("history", {}).get("loss"):
            continue
        node_losses = node["history"]["loss"]
        window = smoothing_window(len(node_losses))
        # The NODE's last moving mean, computed as every other one.
        target = math.fsum(node_losses[-window:]) / min(len(node_losses), window)
        if not math.isfinite(target):  # the NODE ended on a NaN loss: no target to reach
            run.update(node_final_loss=None, steps_to_node_loss=None, nfe_to_node_loss=None)
            continue
        step = steps_to_reach(run["history"]["loss"], target, window)
        run["node_final_loss"] = target
        run["steps_to_node_loss"] = step
        run["nfe_to_node_loss"] = (
            None if step is None else sum(run["history"]["nfe_forward"][:step])
        )


def catch_up_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Markdown: per seed, the NODE's final loss and each model's iterations and forward
    NFE to reach it (empty when the runs kept no history)."""
    add_catch_up(runs)
    by_seed = {(r["model"], r["seed"]): r for r in runs if "steps_to_node_loss" in r}
    seeds = [s for s in dict.fromkeys(r["seed"] for r in runs) if ("anode", s) in by_seed]
    seeds = [s for s in seeds if ("node", s) in by_seed]
    if not seeds:
        return []
    lines = [
        "## Reaching the NODE's final training loss (Figure 10)",
        "",
        "Per seed, the NODE's final loss is its training loss averaged over its last "
        f"{smoothing_window(len(by_seed['node', seeds[0]]['history']['loss']))} steps; "
        "each model's iterations and summed forward NFE until its loss, averaged the same "
        "way, first reaches it. The paper: on MNIST, ANODEs (p=10) reach the same loss in "
        "roughly 10 times fewer iterations.",
        "",
        "| Seed | NODE's final loss | NODE iterations | ANODE iterations | Ratio "
        "| NODE forward NFE | ANODE forward NFE |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        node, anode = by_seed["node", seed], by_seed["anode", seed]
        if node["node_final_loss"] is None:
            lines.append(f"| {seed} | not a number | - | - | - | - | - |")
            continue
        steps, nfe = anode["steps_to_node_loss"], anode["nfe_to_node_loss"]
        ratio = "-" if steps is None else f"{node['steps_to_node_loss'] / steps:.1f}x"
        lines.append(
            f"| {seed} | {node['node_final_loss']:.4f} | {node['steps_to_node_loss']} "
            f"| {'never' if steps is None else steps} | {ratio} "
            f"| {node['nfe_to_node_loss']:,.0f} | {'never' if nfe is None else f'{nfe:,.0f}'} |"
        )
    return [*lines, ""]
