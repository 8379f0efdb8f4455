"""Figures, ``results.json`` and ``report.md`` of ``anode-experiments cnf``."""

from __future__ import annotations

import json
import os
from typing import Any

from .._atomic import save_figure, write_text_atomic
from ._cnf import CNF_CLAIMS, cnf_claims, summarise

__all__ = ["render_cnf_report", "save_cnf_figures", "write_cnf_outputs"]

_LABELS = {"cnf": "CNF (p = 0)", "augmented_cnf": "augmented CNF"}


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
    if toys:
        fig, axes = plt.subplots(len(toys), 5, figsize=(12.5, 2.6 * len(toys)), squeeze=False)
        extent = (-4.5, 4.5, -4.5, 4.5)
        for row, density in enumerate(toys):
            data = density_samples(density, config["figure_samples"], seed=first)
            panels = [("data", data.tolist(), None)]
            for model in ("cnf", "augmented_cnf"):
                run = by_key.get((density, model))
                if run is not None:
                    panels.append((f"{_LABELS[model]}: density", None, run["density_grid"]))
                    panels.append((f"{_LABELS[model]}: samples", run["samples"], None))
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
        fig, axes = plt.subplots(1, 2, figsize=(6, 3.2))
        for ax, model in zip(axes, ("cnf", "augmented_cnf"), strict=True):
            ax.axis("off")
            run = by_key.get(("digits", model))
            if run is None:
                continue
            images = (torch.tensor(run["samples"]).clamp(-2, 2) + 2) / 4
            n = int(len(images) ** 0.5)
            tiles = images[: n * n].view(n, n, 8, 8).permute(0, 2, 1, 3).reshape(8 * n, 8 * n)
            ax.imshow(tiles.numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{_LABELS[model]} samples", fontsize=9)
        fig.tight_layout()
        save_figure(fig, os.path.join(output_dir, "cnf_digits_samples.png"), dpi=90)
        plt.close(fig)
        files.append("cnf_digits_samples.png")
    densities = list(config["densities"])
    fig, axes = plt.subplots(1, len(densities), figsize=(3.2 * len(densities), 2.8), squeeze=False)
    for ax, density in zip(axes[0], densities, strict=True):
        for model, colour in (("cnf", "tab:blue"), ("augmented_cnf", "tab:orange")):
            group = [r for r in runs if r["density"] == density and r["model"] == model]
            if not group:
                continue
            for key, style in (("nfe_forward", "-"), ("nfe_backward", "--")):
                series = [sum(v) / len(group) for v in zip(*(r[key] for r in group), strict=True)]
                label = f"{_LABELS[model]}, {key.split('_')[1]}"
                ax.plot(_smooth(series, 10), style, color=colour, label=label, lw=1)
        ax.set_title(density, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
    axes[0][0].set_ylabel("NFE per step")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, os.path.join(output_dir, "cnf_nfe.png"), dpi=90)
    plt.close(fig)
    files.append("cnf_nfe.png")
    return files


def render_cnf_report(results: dict[str, Any], figures: list[str]) -> str:
    """The markdown report: settings, the table, the claims and the figures."""
    rows, claims = results["summary"], results["claims"]
    config = results["config"]
    lines = [
        "# Plain vs augmented continuous normalizing flows",
        "",
        f"Command: `{results['command']}`; wall time {results['wall_time_s']:.0f} s with "
        f"{results['environment']['workers']} worker processes "
        f"(torch {results['environment']['torch']}).",
        "",
        f"{config['seeds']} seeds; {config['steps']} Adam steps on the 2-D densities, "
        f"{config['digits_steps']} on the digits; batch {config['batch_size']}; dopri5 at "
        f"tolerance {config['tol']:g}; adjoint gradients. The augmented CNF's field is "
        "narrowed so that its parameters, its learned q(e | x) included, do not exceed "
        "the plain CNF's. NLL: held-out, in nats; the plain CNF's is exact, the augmented "
        f"CNF's is its importance-weighted bound with {config['eval_samples']} draws (an "
        "upper bound on its true NLL). Digits: bits per dimension of the 17-level pixels "
        "(uniform dequantisation). Seconds are wall-clock time of the training loop; CPU "
        "seconds are its process time (one thread per run), which other programs sharing "
        "the cores inflate less. The augmented CNF's density panels show the exponential "
        "of its importance-weighted bound, a noisy lower bound on its density.",
        "",
        "| density | model | p | parameters | held-out NLL (nats) | bits/dim | forward NFE "
        "per step (last 20%) | backward NFE per step | seconds per run | CPU seconds per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        bits = "" if r["bits_per_dim"] is None else f"{r['bits_per_dim']:.3f}"
        lines.append(
            f"| {r['density']} | {_LABELS[r['model']]} | {r['augment_dims']} | "
            f"{r['parameters']} | {r['test_nll']:.3f} ± {r['test_nll_std']:.3f} | {bits} | "
            f"{r['nfe_forward_late']:.1f} | {r['nfe_backward_late']:.1f} | {r['seconds']:.0f} | "
            f"{r['cpu_seconds']:.0f} |"
        )
    lines += ["", "## Claims", ""]
    for key, statement in CNF_CLAIMS.items():
        lines.append(f"- {statement}")
        for check in (c for c in claims if c["key"] == key):
            verdict = "holds" if check["holds"] else "DOES NOT HOLD"
            lines.append(f"    - {check['density']}: {verdict} ({check['measured']})")
    lines += [""]
    held = sum(c["holds"] for c in claims)
    lines.append(f"{held} of {len(claims)} checks hold.")
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
