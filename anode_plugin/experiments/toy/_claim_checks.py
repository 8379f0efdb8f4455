"""The paper's toy claims, each checked against the figures in ``results.json``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._shared import ClaimCheck, missing, seed_stats

__all__ = [
    "G1D_ANODE_MAX",
    "G1D_NODE_MIN",
    "NFE_ANODE_MAX_RATIO",
    "NFE_GROWTH_MIN",
    "SEPARABLE_FIT_MAX",
    "SEPARABLE_GAP_MAX_RATIO",
    "check_g1d",
    "check_generalisation",
    "check_nfe",
    "check_per_input_nfe",
    "check_separable",
    "check_separable_final",
    "check_spheres",
    "nfe_start_end",
]

G1D_NODE_MIN = 0.4
G1D_ANODE_MAX = 0.01
NFE_GROWTH_MIN = 1.5
NFE_ANODE_MAX_RATIO = 0.8
SEPARABLE_FIT_MAX = 0.05
SEPARABLE_GAP_MAX_RATIO = 0.5


def _finals(exp: dict[str, Any], model: str, key: str = "final_loss") -> np.ndarray:
    return np.array([run[key] for run in exp["models"][model]["runs"]], dtype=float)


def nfe_start_end(run: dict[str, Any]) -> tuple[float, float]:
    """Mean forward NFE per step over the first and over the last epoch of a run."""
    nfe = np.asarray(run["nfe_forward"], dtype=float)
    if nfe.size == 0:
        return float("nan"), float("nan")
    span = max(1, min(run["steps_per_epoch"], nfe.size))
    return float(nfe[:span].mean()), float(nfe[-span:].mean())


def _has(results: dict[str, Any], exp: str, *models: str) -> bool:
    entry = results.get("experiments", {}).get(exp)
    return entry is not None and all(m in entry["models"] for m in models)


def check_g1d(results: dict[str, Any]) -> ClaimCheck:
    """Section 3: the flow alone cannot fit ``g1d``; with one extra dimension it can."""
    key, section = "g1d", "3"
    claim = (
        "A Neural ODE flow cannot represent g1d(-1) = 1, g1d(1) = -1: it maps both points "
        "near 0; an augmented ODE (p = 1) represents it."
    )
    criterion = f"every seed: NODE final loss >= {G1D_NODE_MIN}; ANODE final loss < {G1D_ANODE_MAX}"
    if not _has(results, "g1d", "NODE", "ANODE"):
        return missing(key, section, claim, criterion, "experiment g1d")
    exp = results["experiments"]["g1d"]
    node, anode = _finals(exp, "NODE"), _finals(exp, "ANODE")
    holds = bool((node >= G1D_NODE_MIN).all() and (anode < G1D_ANODE_MAX).all())
    measured = f"NODE {seed_stats(node)}; ANODE {seed_stats(anode)}"
    figures = {"node": node.tolist(), "anode": anode.tolist()}
    return ClaimCheck(key, section, claim, criterion, measured, holds, figures)


def check_spheres(results: dict[str, Any], dim: int) -> ClaimCheck:
    """Sections 4.1 and 5.1: ANODEs fit the spheres better than NODEs, seed by seed."""
    key, section = f"spheres_d{dim}", "4.1, 5.1 (Fig. 5, 7)"
    claim = (
        f"On concentric spheres in d = {dim}, NODEs struggle while ANODEs fit easily: "
        "ANODEs reach lower losses."
    )
    criterion = "every seed: ANODE final loss < NODE final loss (same seed, same data)"
    if not _has(results, key, "NODE", "ANODE"):
        return missing(key, section, claim, criterion, f"experiment {key}")
    exp = results["experiments"][key]
    node, anode = _finals(exp, "NODE"), _finals(exp, "ANODE")
    wins = int((anode < node).sum())
    holds = bool(wins == node.size)
    measured = (
        f"NODE {seed_stats(node)}; ANODE {seed_stats(anode)}; ANODE lower on {wins}/{node.size}"
    )
    figures = {"node": node.tolist(), "anode": anode.tolist(), "anode_wins": wins}
    return ClaimCheck(key, section, claim, criterion, measured, holds, figures)


def check_nfe(results: dict[str, Any]) -> ClaimCheck:
    """Sections 4.2 and 5.1: a NODE's NFE grows during training; an ANODE's stays low."""
    key, section = "nfe_spheres_d2", "4.2, 5.1 (Fig. 6, 8)"
    claim = (
        "As training progresses the NODE's flow gets harder to solve and its NFE grows "
        "(nearly doubles); the ANODE's NFE hardly increases."
    )
    criterion = (
        f"spheres d = 2, mean over seeds of the forward NFE per step: NODE last epoch >= "
        f"{NFE_GROWTH_MIN} x NODE first epoch; ANODE last epoch <= {NFE_ANODE_MAX_RATIO} x "
        "NODE last epoch"
    )
    if not _has(results, "spheres_d2", "NODE", "ANODE"):
        return missing(key, section, claim, criterion, "experiment spheres_d2")
    exp = results["experiments"]["spheres_d2"]
    node = np.array([nfe_start_end(r) for r in exp["models"]["NODE"]["runs"]])
    anode = np.array([nfe_start_end(r) for r in exp["models"]["ANODE"]["runs"]])
    growth = node[:, 1].mean() / node[:, 0].mean()
    ratio = anode[:, 1].mean() / node[:, 1].mean()
    holds = bool(growth >= NFE_GROWTH_MIN and ratio <= NFE_ANODE_MAX_RATIO)
    epochs = exp["config"].get("epochs")
    measured = (
        f"NODE {node[:, 0].mean():.1f} -> {node[:, 1].mean():.1f} (x{growth:.2f}; per seed "
        f"{', '.join(f'x{e / s:.2f}' for s, e in node)}); ANODE {anode[:, 0].mean():.1f} -> "
        f"{anode[:, 1].mean():.1f}, i.e. {ratio:.2f} x NODE's end NFE; {epochs} epochs"
    )
    figures = {
        "node_start_end": node.tolist(),
        "anode_start_end": anode.tolist(),
        "node_growth": float(growth),
        "anode_to_node_end_ratio": float(ratio),
        "epochs": epochs,
    }
    return ClaimCheck(key, section, claim, criterion, measured, holds, figures)


def check_per_input_nfe(results: dict[str, Any]) -> ClaimCheck:
    """Section 4.2 per input: ANODE's flows are cheaper to solve over the input space."""
    key, section = "nfe_per_input", "4.2 (Fig. 8), per input"
    names = ("g1d", "spheres_d1", "spheres_d2")
    claim = (
        "Augmented flows are simpler: solved per input (torchode), ANODE's trained flow "
        "needs fewer evaluations than NODE's across the input space, typical and hard "
        "inputs alike."
    )
    criterion = (
        f"on {', '.join(names)}: the largest ANODE mean and 90th percentile of the per-input "
        "forward NFE over the grid, over the seeds, below the smallest NODE ones"
    )
    present = [n for n in names if _has(results, n, "NODE", "ANODE")]
    if not present:
        return missing(key, section, claim, criterion, "experiments " + ", ".join(names))
    figures: dict[str, Any] = {}
    parts, holds = [], True
    for name in present:
        models = results["experiments"][name]["models"]
        summaries = {
            model: [run.get("nfe_per_input") for run in models[model]["runs"]]
            for model in ("NODE", "ANODE")
        }
        if not all(all(summaries[m]) for m in summaries):
            return missing(key, section, claim, criterion, f"per-input NFE of {name}")
        stats = {
            model: {q: [s[q] for s in summaries[model]] for q in ("mean", "p90")}
            for model in summaries
        }
        apart = all(max(stats["ANODE"][q]) < min(stats["NODE"][q]) for q in ("mean", "p90"))
        holds = holds and apart
        figures[name] = stats
        parts.append(
            f"{name}: mean NODE {min(stats['NODE']['mean']):.1f}-{max(stats['NODE']['mean']):.1f}"
            f", ANODE {min(stats['ANODE']['mean']):.1f}-{max(stats['ANODE']['mean']):.1f}; p90 "
            f"NODE {min(stats['NODE']['p90']):g}-{max(stats['NODE']['p90']):g}, ANODE "
            f"{min(stats['ANODE']['p90']):g}-{max(stats['ANODE']['p90']):g}"
        )
    if len(present) < len(names):  # checked on the data sets that were run
        parts.append(f"not run: {', '.join(n for n in names if n not in present)}")
    return ClaimCheck(key, section, claim, criterion, "; ".join(parts), holds, figures)


def check_generalisation(results: dict[str, Any]) -> ClaimCheck:
    """Section 5.1: ANODEs generalise better to held-out slices of the input space."""
    key, section = "generalisation", "5.1 (Fig. 9)"
    claim = (
        "With slices of the 2-D spheres held out of training, NODEs show a large "
        "generalisation gap while ANODEs reach a low held-out loss."
    )
    criterion = "mean over seeds: ANODE held-out loss < NODE held-out loss"
    if not _has(results, "generalisation", "NODE", "ANODE"):
        return missing(key, section, claim, criterion, "experiment generalisation")
    exp = results["experiments"]["generalisation"]
    node = _finals(exp, "NODE", "final_val_loss")
    anode = _finals(exp, "ANODE", "final_val_loss")
    wins = int((anode < node).sum())
    holds = bool(anode.mean() < node.mean())
    measured = (
        f"held-out loss NODE {seed_stats(node)}; ANODE {seed_stats(anode)}; "
        f"ANODE lower on {wins}/{node.size} seeds"
    )
    figures = {"node": node.tolist(), "anode": anode.tolist(), "anode_wins": wins}
    return ClaimCheck(key, section, claim, criterion, measured, holds, figures)


def _curve_means(exp: dict[str, Any], model: str) -> np.ndarray:
    """Per seed, the training loss averaged over all steps: the area under the loss curve."""
    return np.array([np.mean(run["loss_history"]) for run in exp["models"][model]["runs"]])


def _check_separable(results: dict[str, Any], *, curve: bool) -> ClaimCheck:
    key = "separable_curve" if curve else "separable_final"
    section = "4.1 (Fig. 5c)"
    claim = (
        "On data a homeomorphism can separate (two shifted sines), NODEs fit well: the "
        "difference between the models is much smaller than on the spheres."
    )
    measure = (
        "training loss averaged over the whole run (area under the loss curves of Fig. 5)"
        if curve
        else "final training loss"
    )
    criterion = (
        f"mean final loss of NODE and ANODE <= {SEPARABLE_FIT_MAX}; NODE-minus-ANODE gap in "
        f"{measure} <= {SEPARABLE_GAP_MAX_RATIO} x the same gap on spheres d = 2"
    )
    if not _has(results, "separable", "NODE", "ANODE"):
        return missing(key, section, claim, criterion, "experiment separable")
    figure = _curve_means if curve else _finals
    exp = results["experiments"]["separable"]
    node, anode = _finals(exp, "NODE"), _finals(exp, "ANODE")
    fits = bool(node.mean() <= SEPARABLE_FIT_MAX and anode.mean() <= SEPARABLE_FIT_MAX)
    gap = float(figure(exp, "NODE").mean() - figure(exp, "ANODE").mean())
    figures: dict[str, Any] = {"node": node.tolist(), "anode": anode.tolist(), "gap": gap}
    measured = f"final loss NODE {seed_stats(node)}; ANODE {seed_stats(anode)}; gap {gap:.4g}"
    if not _has(results, "spheres_d2", "NODE", "ANODE"):
        return ClaimCheck(
            key, section, claim, criterion, measured + "; spheres d = 2 not run", None, figures
        )
    spheres = results["experiments"]["spheres_d2"]
    sphere_gap = float(figure(spheres, "NODE").mean() - figure(spheres, "ANODE").mean())
    figures["spheres_d2_gap"] = sphere_gap
    small = sphere_gap > 0 and gap <= SEPARABLE_GAP_MAX_RATIO * sphere_gap
    measured += f" vs {sphere_gap:.4g} on spheres d = 2"
    return ClaimCheck(key, section, claim, criterion, measured, bool(fits and small), figures)


def check_separable(results: dict[str, Any]) -> ClaimCheck:
    """Section 4.1: on separable data the NODE/ANODE gap over training is much smaller."""
    return _check_separable(results, curve=True)


def check_separable_final(results: dict[str, Any]) -> ClaimCheck:
    """The same, with the gap measured on the final training loss only."""
    return _check_separable(results, curve=False)
