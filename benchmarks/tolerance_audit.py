"""How loose is each test tolerance? The allowance over the error it guards, measured.

Runs the suite (or the paths given) with ``--tolerance-audit`` (``tests/conftest.py``)
under the machine's CPU kernels and under ``ATEN_CPU_CAPABILITY=default``, and reports,
for each ``torch.testing.assert_close`` line, the smallest ratio of the allowance
(``atol + rtol * |expected|``) to the error over its calls and both runs: how many times
the error could grow before the check fails. Lines whose every call compared equal
values (error 0) are counted apart: their tolerance guards rounding that did not occur.

    python benchmarks/tolerance_audit.py                  # the whole suite, twice
    python benchmarks/tolerance_audit.py tests/solve      # a part of it

Prints the loosest lines; a run over the whole suite also writes
``benchmarks/results/tolerances.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(paths: list[str], capability: str | None, folder: Path) -> list[dict]:
    target = folder / f"audit-{capability or 'machine'}.json"
    env = dict(os.environ)
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    command = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]
    command += ["--tolerance-audit", str(target), *paths]
    subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True)
    records = []
    for part in folder.glob(f"{target.name}*"):
        records += json.loads(part.read_text())
    return records


def audit(paths: list[str]) -> dict[str, dict]:
    """Per ``file:line``, the smallest ratio over its calls and both CPU capabilities."""
    lines: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for capability in (None, "default"):
            for record in _run(paths, capability, Path(folder)):
                line = lines.setdefault(
                    record["line"],
                    {"ratio": math.inf, "max_error": 0.0, "calls": 0, "test": record["test"]},
                )
                line["calls"] += 1
                line["max_error"] = max(line["max_error"], record["max_error"])
                if record["ratio"] < line["ratio"]:
                    line.update(ratio=record["ratio"], atol=record["atol"], rtol=record["rtol"])
                    line["test"] = record["test"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", default=["tests"])
    parser.add_argument("--show", type=int, default=15, help="loosest lines to print")
    args = parser.parse_args(argv)
    lines = audit(args.paths)
    # The saved figures are the whole suite's; a part of it is printed only.
    if args.paths == ["tests"]:
        results = ROOT / "benchmarks" / "results"
        results.mkdir(parents=True, exist_ok=True)
        (results / "tolerances.json").write_text(json.dumps(lines, indent=1, sort_keys=True))
    finite = sorted(
        ((v["ratio"], k, v) for k, v in lines.items() if math.isfinite(v["ratio"])),
        reverse=True,
    )
    exact = [k for k, v in lines.items() if not math.isfinite(v["ratio"])]
    print(f"{len(lines)} assert_close lines; {len(exact)} compared equal values only")
    print(f"{sum(r > 10 for r, _, _ in finite)} lines with an allowance over 10x their error")
    for ratio, line, v in finite[: args.show]:
        print(
            f"{ratio:10.3g}x  {line:45s} error {v['max_error']:.2g} "
            f"atol {v.get('atol')} rtol {v.get('rtol')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
