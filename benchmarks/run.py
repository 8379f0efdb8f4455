"""The benchmark suite: every speed and NFE claim of anode-plugin, measured side by side.

Figures are medians over repeats and ratios between configurations timed alternately,
so that machine load affects both sides alike. One thread is used throughout. Each
section is a module of ``benchmarks/sections/``; ``benchmarks/README.md`` says what each
figure means and its goal.

Run:
    python benchmarks/run.py --profile quick        # under ten minutes on 2 cores
    python benchmarks/run.py --profile full
    python benchmarks/run.py --profile quick --sections '[seminorm, compile]'

Writes ``<output_dir>/latest.json`` and ``<output_dir>/latest.md``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from jsonargparse import auto_cli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sections import PROFILES, SECTIONS, Row

__all__ = ["PROFILES", "SECTIONS", "Row", "main"]


# ---------------------------------------------------------------------- report
def _fmt(value: float) -> str:
    if value != value:
        return "not reached"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        "# anode-plugin benchmarks",
        "",
        f"`{meta['command']}` — profile `{meta['profile']}`, {meta['total_seconds']:.0f} s, "
        f"torch {meta['torch']}, {meta['cpus']} CPUs, load average at start "
        f"{meta['load_average_start']}, one thread.",
        "",
        "| section | case | figure | value | goal | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "no")
        lines.append(
            f"| {r.section} | {r.case} | {r.figure} | {_fmt(r.value)} | {r.goal} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main(
    profile: str = "quick",
    sections: tuple[str, ...] = tuple(SECTIONS),
    output_dir: Path = Path("benchmarks/results"),
) -> list[Row]:
    """Run the suite, print the table and write ``latest.json`` and ``latest.md``.

    Args:
        profile: ``'quick'`` (under ten minutes on 2 cores), ``'full'`` or ``'tiny'``
            (a smoke test of the suite itself; its figures mean nothing).
        sections: which sections to run, names from ``SECTIONS`` (see
            ``benchmarks/README.md``).
        output_dir: where the results are written.
    """
    if profile not in PROFILES:
        raise ValueError(f"`profile` must be one of {list(PROFILES)}, got {profile!r}.")
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"`sections` must be taken from {list(SECTIONS)}, got {unknown}.")
    torch.set_num_threads(1)
    settings = PROFILES[profile]
    meta = {
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "profile": profile,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows: list[Row] = []
    start = time.perf_counter()
    for section in sections:
        section_start = time.perf_counter()
        new = SECTIONS[section](settings)
        rows.extend(new)
        print(f"[{section}: {time.perf_counter() - section_start:.0f} s]", flush=True)
        for r in new:
            met = "" if r.met is None else ("  ok" if r.met else "  MISSED")
            print(f"  {r.case:48} {r.figure:55} {_fmt(r.value):>12} {r.goal}{met}", flush=True)
    meta["total_seconds"] = time.perf_counter() - start
    meta["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    meta["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "latest.json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2, default=str)
    )
    (output_dir / "latest.md").write_text(_markdown(rows, meta))
    print(f"total {meta['total_seconds']:.0f} s; results in {output_dir}")
    return rows


if __name__ == "__main__":
    auto_cli(main)
