"""Figures, ``results.json`` and ``report.md`` of ``anode-experiments cnf``."""

from __future__ import annotations

import json
import os
from typing import Any

from .._atomic import save_figure, write_text_atomic
from ._claim_check import summary_verdict
from ._cnf_summary import CNF_CLAIMS, cnf_claims, summarise

__all__ = ["render_cnf_report", "save_cnf_figures", "write_cnf_outputs"]

_LABELS = {
    "cnf": "CNF (p = 0)",
    "augmented_cnf": "variational augmented CNF",
    "exact_augmented_cnf": "exact augmented CNF",
    "flow_matching": "CNF, flow matching",
    "exact_flow_matching": "exact augmented CNF, flow matching",
}
_SHORT = {
    "cnf": "CNF",
    "augmented_cnf": "variational",
    "exact_augmented_cnf": "exact",
    "flow_matching": "CNF, FM",
    "exact_flow_matching": "exact, FM",
}
_COLOURS = {
    "cnf": "tab:blue",
    "augmented_cnf": "tab:orange",
    "exact_augmented_cnf": "tab:green",
    "flow_matching": "tab:purple",
    "exact_flow_matching": "tab:brown",
}


def _models(runs: list[dict[str, Any]]) -> list[str]:
    present = {r["model"] for r in runs}
    return [m for m in _LABELS if m in present]


def _smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def save_cnf_figures(results: dict[str, Any], output_dir: str) -> list[str]:
    """Draw the density, sample and NFE figures (matplotlib, Agg); returns their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from ..datasets._densities import density_samples

    runs, config = results["runs"], results["config"]
    first = config["first_seed"]
    files = []
    toys = [d for d in config["densities"] if d != "digits"]
    by_key = {(r["density"], r["model"]): r for r in runs if r["seed"] == first}
    models = _models(runs)
    if toys:
        columns = 1 + 2 * len(models)
        fig, axes = plt.subplots(
            len(toys), columns, figsize=(2.3 * columns, 2.4 * len(toys)), squeeze=False
        )
        extent = (-4.5, 4.5, -4.5, 4.5)
        for row, density in enumerate(toys):
            data = density_samples(density, config["figure_samples"], seed=first)
            panels = [("data", data.tolist(), None)]
            for model in models:
                run = by_key.get((density, model))
                if run is not None:
                    panels.append((f"{_SHORT[model]}: density", None, run["density_grid"]))
                    panels.append((f"{_SHORT[model]}: samples", run["samples"], None))
            for col, ax in enumerate(axes[row]):
                ax.set_xticks([])
                ax.set_yticks([])
                if col >= len(panels):
                    ax.axis("off")
                    continue
                title, points, grid = panels[col]
                if grid is not None:
                    ax.imshow(grid, origin="lower", extent=extent, cmap="magma")
                else:
                    xy = torch.tensor(points).numpy()
                    ax.scatter(xy[:, 0], xy[:, 1], s=1, alpha=0.5)
                    ax.set_xlim(extent[:2])
                    ax.set_ylim(extent[2:])
                ax.set_aspect("equal")
                if row == 0:
                    ax.set_title(title, fontsize=9)
            axes[row][0].set_ylabel(density, fontsize=9)
        fig.tight_layout()
        save_figure(fig, os.path.join(output_dir, "cnf_densities.png"), dpi=90)
        plt.close(fig)
        files.append("cnf_densities.png")
    if "digits" in config["densities"]:
        fig, axes = plt.subplots(1, len(models), figsize=(3 * len(models), 3.2), squeeze=False)
        for ax, model in zip(axes[0], models, strict=True):
            ax.axis("off")
            run = by_key.get(("digits", model))
            if run is None:
                continue
            images = (torch.tensor(run["samples"]).clamp(-2, 2) + 2) / 4
            n = int(len(images) ** 0.5)
            tiles = images[: n * n].view(n, n, 8, 8).permute(0, 2, 1, 3).reshape(8 * n, 8 * n)
            ax.imshow(tiles.numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{_SHORT[model]} samples", fontsize=9)
        fig.tight_layout()
        save_figure(fig, os.path.join(output_dir, "cnf_digits_samples.png"), dpi=90)
        plt.close(fig)
        files.append("cnf_digits_samples.png")
    densities = list(config["densities"])
    fig, axes = plt.subplots(1, len(densities), figsize=(3.2 * len(densities), 2.8), squeeze=False)
    for ax, density in zip(axes[0], densities, strict=True):
        for model in models:
            group = [r for r in runs if r["density"] == density and r["model"] == model]
            if not group or not any(group[0]["nfe_forward"]):  # flow matching: no solve
                continue
            colour = _COLOURS[model]
            for key, style in (("nfe_forward", "-"), ("nfe_backward", "--")):
                series = [sum(v) / len(group) for v in zip(*(r[key] for r in group), strict=True)]
                label = f"{_SHORT[model]}, {key.split('_')[1]}"
                ax.plot(_smooth(series, 10), style, color=colour, label=label, lw=1)
        ax.set_title(density, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
    axes[0][0].set_ylabel("NFE per step")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, os.path.join(output_dir, "cnf_nfe.png"), dpi=90)
    plt.close(fig)
    files.append("cnf_nfe.png")
    rows = [r for r in results["summary"] if r.get("iw_bounds")]
    if rows:
        fig, ax = plt.subplots(figsize=(4.8, 3.2))
        for row in rows:
            ks = sorted(row["iw_bounds"], key=int)
            gaps = [row["iw_bounds"][k] - row["iw_bounds"][ks[-1]] for k in ks]
            ax.plot([int(k) for k in ks], gaps, "o-", ms=3, lw=1, label=row["density"])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("importance samples k")
        ax.set_ylabel("bound - bound at the largest k (nats)")
        ax.set_title("variational CNF: importance-weighted bound", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, os.path.join(output_dir, "cnf_iw_bound.png"), dpi=90)
        plt.close(fig)
        files.append("cnf_iw_bound.png")
    return files


def _cell(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_cnf_report(results: dict[str, Any], figures: list[str]) -> str:
    """The markdown report: settings, the tables, the claims and the figures."""
    rows, claims = results["summary"], results["claims"]
    config = results["config"]
    fm_steps = config.get("fm_steps")
    lines = [
        "# Continuous normalizing flows: plain, variational and exact augmentation, flow matching",
        "",
        f"Command: `{results['command']}`; wall time {results['wall_time_s']:.0f} s with "
        f"{results['environment']['workers']} worker processes "
        f"(torch {results['environment']['torch']}).",
        "",
        f"{config['seeds']} seeds; maximum likelihood: {config['steps']} Adam steps on the 2-D "
        f"densities, {config['digits_steps']} on the digits"
        + (
            f"; flow matching: {fm_steps} on the 2-D densities, "
            f"{config['digits_fm_steps']} on the digits"
            if fm_steps is not None
            else ""
        )
        + f"; batch {config['batch_size']}; dopri5 at tolerance {config['tol']:g}; adjoint "
        "gradients. The augmented flows' fields are narrowed so that their parameters (q(e | x), "
        "or the exact flow's start and augmented field, included) do not exceed the plain "
        "CNF's. NLL: held-out, in nats; exact for the plain and exact flows, the "
        f"importance-weighted bound with {config['eval_samples']} draws for the variational "
        "one (an upper bound on its true NLL). NLL at matched NFE: every flow solved by rk4 "
        f"with {config.get('matched_steps', 20)} fixed steps. Digits: bits per dimension of the "
        "17-level pixels (uniform dequantisation). Seconds are wall-clock time of the training "
        "loop; CPU seconds its process time (one thread per run). The variational flow's "
        "density panels show the exponential of its importance-weighted bound, a noisy lower "
        "bound on its density.",
        "",
        "| density | model | p | parameters | held-out NLL (nats) | NLL at matched NFE | "
        "bits/dim | forward NFE per step (last 20%) | backward NFE per step | held-out NFE | "
        "steps | ms per step | seconds per run | CPU seconds per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        per_step = r.get("seconds_per_step")
        lines.append(
            f"| {r['density']} | {_LABELS[r['model']]} | {r['augment_dims']} | "
            f"{r['parameters']} | {r['test_nll']:.3f} ± {r['test_nll_std']:.3f} | "
            f"{_cell(r.get('test_nll_matched'))} | {_cell(r['bits_per_dim'])} | "
            f"{r['nfe_forward_late']:.1f} | {r['nfe_backward_late']:.1f} | "
            f"{_cell(r.get('eval_nfe'), 0)} | {r.get('steps', '')} | "
            f"{_cell(None if per_step is None else 1000 * per_step, 1)} | {r['seconds']:.0f} | "
            f"{r['cpu_seconds']:.0f} |"
        )
    iw_rows = [r for r in rows if r.get("iw_bounds")]
    if iw_rows:
        ks = sorted(iw_rows[0]["iw_bounds"], key=int)
        lines += [
            "",
            "## The importance-weighted bound",
            "",
            f"The variational flow's bound on {config.get('iw_points', 256)} held-out points, "
            "mean over seeds, in nats (log p >= bound; it tightens with k in expectation):",
            "",
            "| density | " + " | ".join(f"k = {k}" for k in ks) + " |",
            "| --- |" + " --- |" * len(ks),
        ]
        for r in iw_rows:
            cells = " | ".join(f"{-r['iw_bounds'][k]:.3f}" for k in ks)
            lines.append(f"| {r['density']} (negative bound) | {cells} |")
    lines += ["", "## Claims", ""]
    for key, statement in CNF_CLAIMS.items():
        found = [c for c in claims if c["key"] == key]
        if not found:
            continue
        lines.append(f"- {statement}")
        for check in found:
            verdict = summary_verdict(check).lower().replace("does not hold", "DOES NOT HOLD")
            lines.append(f"    - {check['density']}: {verdict} ({check['measured']})")
    lines += [""]
    held = sum(c["holds"] is True for c in claims)
    judged = sum(c["holds"] is not None for c in claims)
    lines.append(f"{held} of {judged} judged checks hold ({len(claims) - judged} not judged).")
    lines += [""]
    for name in figures:
        lines += [f"![{name}]({name})", ""]
    return "\n".join(lines)


def write_cnf_outputs(results: dict[str, Any], output_dir: str) -> list[str]:
    """Add the summary and claims to ``results``; write ``results.json``, the figures and
    ``report.md`` into ``output_dir``; returns the file names."""
    os.makedirs(output_dir, exist_ok=True)
    results["summary"] = summarise(results["runs"])
    results["claims"] = cnf_claims(results["summary"])
    write_text_atomic(os.path.join(output_dir, "results.json"), json.dumps(results))
    figures = save_cnf_figures(results, output_dir)
    write_text_atomic(os.path.join(output_dir, "report.md"), render_cnf_report(results, figures))
    return ["results.json", "report.md", *figures]
