"""The image benchmark's report: Table 1, the printed line of a run, and the claims.

The claims are checked in ``_image_claims`` (the shared margin rule: a claim holds when
ANODE's mean margin over NODE is positive and beyond the seeds' spread).
"""

from __future__ import annotations

import statistics
from typing import Any

from ..._summary import mean_std
from .._shared import ClaimCheck
from ._anchors import anchor_lines
from ._catch_up import catch_up_lines
from ._image_claims import image_claims
from ._setups import DEFAULT_BACKEND, MODELS, ImageSetup

__all__ = ["claims_report", "reconstruction_line", "table"]


def reconstruction_line(run: dict[str, Any]) -> str:
    """The reconstruction check's part of a run's printed line (``''`` if not checked)."""
    if "reconstruction_error" not in run:
        return ""
    tol = run["loosest_tol"]
    at = (
        "none passes" if tol is None else f"{tol:g} (test acc {100 * run['test_acc_loosest']:.2f}%)"
    )
    return (
        f"; round-trip error {run['reconstruction_error']:.2g} at tol "
        f"{run['trained_atol']:g}, loosest passing tol: {at}"
    )


def _reconstruction_cells(runs: list[dict[str, Any]]) -> str:
    """Round-trip error, loosest passing tolerance(s) and accuracy there, as table cells."""
    checked = [r for r in runs if "reconstruction_error" in r]
    if not checked:
        return "- | - | -"
    error, error_sd = mean_std([r["reconstruction_error"] for r in checked])
    tols = [r["loosest_tol"] for r in checked]
    counts = {t: tols.count(t) for t in dict.fromkeys(tols)}
    tol_cell = ", ".join(
        f"{'none' if t is None else f'{t:g}'}" + (f" ({n}/{len(tols)})" if len(counts) > 1 else "")
        for t, n in counts.items()
    )
    passing = [100 * r["test_acc_loosest"] for r in checked if r["test_acc_loosest"] is not None]
    acc_cell = "-"
    if passing:
        acc, acc_sd = mean_std(passing)
        acc_cell = f"{acc:.1f} ± {acc_sd:.1f}"
    return f"{error:.2g} ± {error_sd:.1g} | {tol_cell} | {acc_cell}"


def table(
    dataset: str,
    setup: ImageSetup,
    runs: list[dict[str, Any]],
    reconstruction: dict[str, Any] | None = None,
) -> str:
    """Table 1's rows of ``dataset`` (mean ± std over seeds), as markdown."""
    header = (
        "| Data set | Model | Filters | p | Parameters | Test accuracy (%) | Paper (%) "
        "| Final train loss | NFE forward | NFE backward | Round-trip error "
        "| Loosest passing tol | Test accuracy there (%) | Runs |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for model in MODELS:
        mine = [r for r in runs if r["model"] == model]
        if not mine:
            continue
        acc, acc_sd = mean_std([100 * r["test_acc"] for r in mine])
        loss, loss_sd = mean_std([r["final_train_loss"] for r in mine])
        fwd, fwd_sd = mean_std([r["nfe_forward"] for r in mine])
        bwd, bwd_sd = mean_std([r["nfe_backward"] for r in mine])
        paper = setup.paper.get(model) if setup.paper else None
        paper_cell = f"{paper[0]:.1f} ± {paper[1]:.1f}" if paper else "-"
        rows.append(
            f"| {dataset} | {model.upper()} | {mine[0]['filters']} | {mine[0]['augment_dims']} "
            f"| {mine[0]['parameters']:,} | {acc:.1f} ± {acc_sd:.1f} | {paper_cell} "
            f"| {loss:.3f} ± {loss_sd:.3f} | {fwd:.1f} ± {fwd_sd:.1f} | {bwd:.1f} ± {bwd_sd:.1f} "
            f"| {_reconstruction_cells(mine)} | {len(mine)} |"
        )
    note = ""
    if reconstruction is not None and reconstruction["samples"]:
        ladder = ", ".join(f"{t:g}" for t in reconstruction["ladder"])
        note = (
            f"\nRound-trip error: the largest relative error ||inverse(features(x)) - x|| / "
            f"||x|| over the first {reconstruction['samples']} test images, at the trained "
            f"tolerance (mean ± std over runs). Loosest passing tol: the loosest of {ladder} "
            f"(atol = rtol) at which every one of them is below "
            f"{reconstruction['threshold']:g}; the test set is evaluated again there.\n"
        )
    return header + "\n".join(rows) + "\n" + note


def _claim_lines(checks: list[ClaimCheck]) -> list[str]:
    if not any(c.figures for c in checks):
        return ["No seed ran both models: nothing to compare."]
    return [f"- {c.figures['verdict']}: {c.claim}. {c.measured}." for c in checks]


def claims_report(
    dataset: str,
    setup: ImageSetup,
    runs: list[dict[str, Any]],
    settings: dict[str, Any],
    checks: list[ClaimCheck] | None = None,
) -> str:
    """Markdown: Table 1's row pair, the per-seed figures, NFE by epoch and the claims
    (``checks``, or :func:`image_claims` of the runs when not given)."""
    seeds = list(dict.fromkeys(r["seed"] for r in runs))
    epochs = max(len(r["nfe_forward_per_epoch"]) for r in runs)
    length = f"{epochs} epoch(s)"
    if settings.get("max_steps", -1) != -1 and "history" in runs[0]:
        length = _length(runs, settings)  # stopped by max_steps: say how far
    lines = [
        f"# Image claims: {dataset}, {len(seeds)} seed(s), {length}, "
        f"backend {settings.get('backend', DEFAULT_BACKEND)}",
        "",
        table(dataset, setup, runs),
        "## Per seed",
        "",
        "| Seed | Model | Parameters | Test accuracy (%) | NFE forward | NFE forward, last "
        "epoch | NFE backward | NFE backward, last epoch | Training time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['model'].upper()} | {r['parameters']:,} "
            f"| {100 * r['test_acc']:.2f} | {r['nfe_forward']:.2f} "
            f"| {r['nfe_forward_last_epoch']:.2f} | {r['nfe_backward']:.2f} "
            f"| {r['nfe_backward_last_epoch']:.2f} | {r['train_seconds']:.0f} |"
        )
    models = [m for m in MODELS if any(r["model"] == m for r in runs)]
    lines += [
        "",
        "## Forward / backward NFE per step, by epoch (mean over seeds)",
        "",
        "| Epoch | " + " | ".join(m.upper() for m in models) + " |",
        "|---" * (len(models) + 1) + "|",
    ]
    for e in range(epochs):
        cells = []
        for m in models:
            mine = [r for r in runs if r["model"] == m and e < len(r["nfe_forward_per_epoch"])]
            fwd = statistics.fmean(r["nfe_forward_per_epoch"][e] for r in mine)
            bwd = statistics.fmean(r["nfe_backward_per_epoch"][e] for r in mine)
            cells.append(f"{fwd:.1f} / {bwd:.1f}")
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## The paper's claims, checked on these runs",
        "",
        "At matched parameter counts the paper finds that the ANODE needs fewer NFE and "
        "reaches a higher accuracy than the NODE (section 5.2, Table 1). A claim holds "
        "when ANODE's mean margin over NODE is positive and beyond the seeds' spread (the "
        "standard deviation of the per-seed margins): a tie does not hold. How many seeds "
        "agree is stated.",
        "",
        *_claim_lines(image_claims(runs) if checks is None else checks),
        "",
        *catch_up_lines(runs),
        # The published figures are of the paper's own data only.
        *(
            anchor_lines(settings["dataset"], runs, _length(runs, settings))
            if settings.get("dataset") and settings.get("data_source") is None
            else []
        ),
    ]
    return "\n".join(lines)


def _length(runs: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """The training each run had, in steps and images (e.g. for the anchors' table)."""
    steps = max(len(r["history"]["loss"]) for r in runs) if "history" in runs[0] else None
    batch = settings.get("batch_size")
    if steps is None or batch is None:
        return f"{settings.get('epochs', '?')} epoch(s)"
    return f"{steps} steps of batch {batch} ({steps * batch:,} images)"
