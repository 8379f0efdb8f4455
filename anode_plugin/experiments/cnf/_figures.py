"""The figures of ``anode-experiments cnf``: densities and samples, NFE, the bound."""

from __future__ import annotations

import os
from typing import Any

from ..._atomic import save_figure
from ...datasets._densities import density_samples

__all__ = ["COLOURS", "LABELS", "SHORT", "models_in", "save_cnf_figures"]

LABELS = {
    "cnf": "CNF (p = 0)",
    "augmented_cnf": "variational augmented CNF",
    "exact_augmented_cnf": "exact augmented CNF",
    "flow_matching": "CNF, flow matching",
    "exact_flow_matching": "exact augmented CNF, flow matching",
}
SHORT = {
    "cnf": "CNF",
    "augmented_cnf": "variational",
    "exact_augmented_cnf": "exact",
    "flow_matching": "CNF, FM",
    "exact_flow_matching": "exact, FM",
}
COLOURS = {
    "cnf": "tab:blue",
    "augmented_cnf": "tab:orange",
    "exact_augmented_cnf": "tab:green",
    "flow_matching": "tab:purple",
    "exact_flow_matching": "tab:brown",
}


def models_in(runs: list[dict[str, Any]]) -> list[str]:
    present = {r["model"] for r in runs}
    return [m for m in LABELS if m in present]


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

    runs, config = results["runs"], results["config"]
    first = config["first_seed"]
    files = []
    toys = [d for d in config["densities"] if d != "digits"]
    by_key = {(r["density"], r["model"]): r for r in runs if r["seed"] == first}
    models = models_in(runs)
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
                    panels.append((f"{SHORT[model]}: density", None, run["density_grid"]))
                    panels.append((f"{SHORT[model]}: samples", run["samples"], None))
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
            ax.set_title(f"{SHORT[model]} samples", fontsize=9)
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
            colour = COLOURS[model]
            for key, style in (("nfe_forward", "-"), ("nfe_backward", "--")):
                series = [sum(v) / len(group) for v in zip(*(r[key] for r in group), strict=True)]
                label = f"{SHORT[model]}, {key.split('_')[1]}"
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
