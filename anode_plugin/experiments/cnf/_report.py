"""``results.json`` and ``report.md`` of ``anode-experiments cnf`` (the figures: ``_figures``)."""

from __future__ import annotations

import json
import os
from typing import Any

from ..._atomic import write_text_atomic
from .._shared import summary_verdict
from ._figures import LABELS, save_cnf_figures
from ._summary import CNF_CLAIMS, cnf_claims, summarise

__all__ = ["render_cnf_report", "write_cnf_outputs"]


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
            f"| {r['density']} | {LABELS[r['model']]} | {r['augment_dims']} | "
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
