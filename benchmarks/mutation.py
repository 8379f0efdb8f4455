"""Mutation testing: each module mutated by mutmut and run against its own tests only.

The mutation score, killed / (killed + survived), is the suite's measure of whether its
checks fail when the code is wrong. Not part of CI (minutes per module); re-measure a
module when it or its tests change:

    pip install -e ".[dev]"
    python benchmarks/mutation.py                      # every module below
    python benchmarks/mutation.py --modules anode_plugin/_nfe.py

A module's own tests are found by its name (:func:`own_tests`): ``tests/`` mirrors the
package, ``anode_plugin/_cnf/_trace.py`` is tested by ``tests/cnf/test_trace.py``.

Each module runs in a fresh copy of the working tree in a temporary folder (mutmut
writes its `mutants/` beside the sources), with `[tool.mutmut]` set to that module and
its tests. A timeout (a mutant that makes the tests hang) counts as killed; a mutant no
test reaches counts as survived. Writes `benchmarks/results/mutation.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The mutmut of this interpreter's environment, which need not be on PATH.
_BESIDE = Path(sys.executable).with_name("mutmut")
MUTMUT = str(_BESIDE) if _BESIDE.exists() else "mutmut"

#: The modules measured by default: the mathematics and the solver's bookkeeping.
MODULES: tuple[str, ...] = (
    "anode_plugin/_augment.py",
    "anode_plugin/_nfe.py",
    "anode_plugin/solve/_norms.py",
    "anode_plugin/solve/_backsolve.py",
    "anode_plugin/_cnf/_trace.py",
    "anode_plugin/_augmentations.py",
    "anode_plugin/_input_layer.py",
    "anode_plugin/_second_order.py",
    "anode_plugin/_cnf/_augmentation.py",
    "anode_plugin/_cnf/_flow_matching.py",
    "anode_plugin/solve/_native/_stepper.py",
    "anode_plugin/solve/_native/_loop.py",
)


def own_tests(module: str) -> str:
    """The test file of ``module``, found by its name: ``tests/`` mirrors the package, so
    ``anode_plugin/<folders>/_<name>.py`` is tested by ``tests/<folders>/test_<name>.py``
    (each folder without its leading underscore: ``_cnf/_trace.py`` by
    ``tests/cnf/test_trace.py``)."""
    path = Path(module)
    if path.parts[0] != "anode_plugin" or path.suffix != ".py":
        raise ValueError(f"`module` must be a file of anode_plugin/, got {module!r}.")
    folders = [part.lstrip("_") for part in path.parts[1:-1]]
    return str(Path("tests", *folders, f"test_{path.stem.lstrip('_')}.py"))


_CONFIG = """
[tool.mutmut]
source_paths = ["anode_plugin/"]
only_mutate = [{module!r}]
pytest_add_cli_args = ["-p", "no:xdist", "-p", "no:randomly", "-q", "-o", "addopts="]
pytest_add_cli_args_test_selection = {tests!r}
"""

_STATUSES = ("killed", "survived", "timeout", "no tests", "suspicious", "skipped")


def _copy_tree(destination: Path) -> None:
    """The tracked and untracked (not ignored) files of the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def measure(module: str, tests: list[str]) -> dict[str, object]:
    """Run mutmut on ``module`` with ``tests``; the counts per status, the score, and
    the diff of each surviving mutant (for the review of equivalent ones)."""
    with tempfile.TemporaryDirectory(prefix="anode-mutation-") as folder:
        work = Path(folder)
        _copy_tree(work)
        with open(work / "pyproject.toml", "a") as handle:
            handle.write(_CONFIG.format(module=module, tests=tests))
        done = subprocess.run([MUTMUT, "run"], cwd=work, capture_output=True, text=True)
        if done.returncode:  # e.g. the unmutated tests fail under mutmut's trampolines
            raise RuntimeError(f"mutmut run failed on {module}:\n{done.stdout[-3000:]}")
        listing = subprocess.run(
            [MUTMUT, "results", "--all", "true"],
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        counts = {status: 0 for status in _STATUSES}
        survivors = []
        for line in listing.splitlines():
            match = re.match(r"\s*(\S+): (.+)$", line)
            if match and match.group(2) in counts:
                counts[match.group(2)] += 1
                if match.group(2) in ("survived", "no tests"):
                    survivors.append(match.group(1))
        diffs = {}
        for name in survivors:
            shown = subprocess.run(
                [MUTMUT, "show", name], cwd=work, capture_output=True, text=True
            ).stdout
            diffs[name] = "\n".join(
                line
                for line in shown.splitlines()
                if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
            )
    killed = counts["killed"] + counts["timeout"]
    missed = counts["survived"] + counts["no tests"]
    score = killed / (killed + missed) if killed + missed else float("nan")
    return {
        "module": module,
        "tests": tests,
        **counts,
        "score": score,
        "survivors": survivors,
        "diffs": diffs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", nargs="*", default=list(MODULES), help="modules to mutate")
    args = parser.parse_args(argv)
    untested = [
        f"{m} (no {own_tests(m)})" for m in args.modules if not (ROOT / own_tests(m)).is_file()
    ]
    if untested:
        parser.error(f"modules without their own test file: {untested}")
    rows = []
    for module in args.modules:
        row = measure(module, [own_tests(module)])
        rows.append(row)
        print(
            f"{module}: {row['score']:.1%} (killed {row['killed']}, timeout {row['timeout']}, "
            f"survived {row['survived']}, no tests {row['no tests']})",
            flush=True,
        )
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    # The figures of modules not measured this time are kept (each is re-measured when
    # its module changes), in the order of MODULES.
    saved = results / "mutation.json"
    earlier = (
        {row["module"]: row for row in json.loads(saved.read_text())} if saved.exists() else {}
    )
    earlier.update({row["module"]: row for row in rows})
    order = list(dict.fromkeys([*MODULES, *args.modules]))
    rows = [earlier[m] for m in order if m in earlier]
    saved.write_text(json.dumps(rows, indent=1))
    lines = ["| module | tests | killed (+ timeouts) | survived (+ no tests) | score |"]
    lines.append("|---|---|---|---|---|")
    for row in rows:
        lines.append(
            f"| `{row['module']}` | {', '.join(row['tests'])} "
            f"| {row['killed']} (+{row['timeout']}) "
            f"| {row['survived']} (+{row['no tests']}) | {row['score']:.1%} |"
        )
    (results / "mutation.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
