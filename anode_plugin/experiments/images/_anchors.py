"""Published test accuracies to set a short run beside: the paper's and two replications'.

Each is a full training run on a GPU; a CPU profile trains for a fraction of that, and
its report says how long, so that no one mistakes one for the other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ANCHORS", "anchor_lines"]

#: Per data set: (source, NODE %, ANODE %, how it was trained).
ANCHORS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "mnist": (
        ("Dupont et al. 2019, Table 1", "96.4 ± 0.5", "98.2 ± 0.1", "5 runs, full training"),
        ("ReScience replication", "94.16", "98.05", "full training"),
        ("NeurIPS 2019 reproducibility challenge", "95.57", "97.25", "full training"),
    ),
}


def anchor_lines(dataset: str, runs: list[dict[str, Any]], length: str) -> list[str]:
    """Markdown: the anchors of ``dataset`` and this run's accuracies, with ``length``,
    the training this run had (e.g. ``'600 steps of batch 32 (0.3 epoch)'``)."""
    anchors = ANCHORS.get(dataset)
    if not anchors:
        return []
    mean = {
        m: sum(100 * r["test_acc"] for r in mine) / len(mine)
        for m in ("node", "anode")
        if (mine := [r for r in runs if r["model"] == m])
    }
    seeds = len({r["seed"] for r in runs})
    ours = " | ".join(f"{mean[m]:.2f}" if m in mean else "-" for m in ("node", "anode"))
    return [
        "## Beside the published figures",
        "",
        "| Source | NODE test accuracy (%) | ANODE test accuracy (%) | Training |",
        "|---|---|---|---|",
        *(f"| {source} | {node} | {anode} | {how} |" for source, node, anode, how in anchors),
        f"| this run (mean of {seeds} seed(s)) | {ours} | {length} |",
        "",
        f"This run trained for {length}: a fraction of the published runs' training, so its "
        "accuracies are not theirs to match; the claims compare its two models with each "
        "other.",
        "",
    ]
