"""torchdyn 1.0.6's own tests, run as they are and with ``AugmentedNeuralODE`` swapped in.

torchdyn's tests are not in its package-index release, only in its repository: give
the folder of its tests at tag 1.0.6 (``git archive 1.0.6 test | tar -x``). Each chosen
test file runs twice, once on torchdyn's ``NeuralODE`` and once with
``torchdyn.core.NeuralODE`` replaced by ``AugmentedNeuralODE(..., augment_dims=0)`` (a
subclass that adds only that default), in fresh processes; the outcomes are compared
test by test. The swap is right where every difference is a test that fails on torchdyn
itself too.

Run:
    python benchmarks/torchdyn_suite.py --tests /path/to/torchdyn/test
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from jsonargparse import auto_cli

# The files the README's claim covers (test_datasets and test_root_find do not build
# a NeuralODE; the SDE tests need torchsde).
FILES = (
    "models/test_ode.py",
    "test_sensitivity.py",
    "test_problem.py",
    "test_normalizing_flows.py",
    "test_energy.py",
    "layers/test_galerkin.py",
)

_SWAP = '''"""pytest plugin: torchdyn.core.NeuralODE is AugmentedNeuralODE(..., augment_dims=0).

Each model built records its backend in ``backends.json`` beside this file.
"""
import atexit
import collections
import json
import pathlib

import torchdyn.core

from anode_plugin import AugmentedNeuralODE

BUILT = collections.Counter()


class NeuralODE(AugmentedNeuralODE):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("augment_dims", 0)
        super().__init__(*args, **kwargs)
        BUILT[self.backend] += 1


torchdyn.core.NeuralODE = NeuralODE
atexit.register(
    lambda: (pathlib.Path(__file__).parent / "backends.json").write_text(json.dumps(BUILT))
)
'''


def _outcomes(report: Path) -> dict[str, str]:
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case]
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        outcomes[name] = outcome
    return outcomes


def _run(tests: Path, swapped: bool, work: Path, timeout: int) -> dict[str, str]:
    report = work / f"{'swapped' if swapped else 'torchdyn'}.xml"
    command = [sys.executable, "-m", "pytest", *(str(tests / f) for f in FILES)]
    command += ["-q", "-p", "no:cacheprovider", f"--junitxml={report}", f"--rootdir={tests}"]
    command += ["-W", "ignore::DeprecationWarning"]
    env = None
    if swapped:
        (work / "anode_swap.py").write_text(_SWAP)
        command += ["-p", "anode_swap"]
        env = {**__import__("os").environ, "PYTHONPATH": str(work)}
    done = subprocess.run(command, cwd=work, env=env, timeout=timeout, capture_output=True)
    print(done.stdout.decode()[-600:], flush=True)
    return _outcomes(report)


def main(tests: str, out: str | None = None, timeout: int = 1800) -> dict:
    """Compare torchdyn's tests on torchdyn and with the swap; returns the counts."""
    folder = Path(tests).resolve()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        plain = _run(folder, False, work, timeout)
        swapped = _run(folder, True, work, timeout)
        backends = json.loads((work / "backends.json").read_text())
    differ = {n: (plain.get(n), swapped.get(n)) for n in plain.keys() | swapped.keys()}
    differ = {n: o for n, o in differ.items() if o[0] != o[1]}

    def count(outcomes: dict[str, str]) -> dict[str, int]:
        return {k: sum(v == k for v in outcomes.values()) for k in sorted(set(outcomes.values()))}

    result = {
        "models_built_by_the_swap": backends,
        "torchdyn": count(plain),
        "swapped": count(swapped),
        "different": {n: {"torchdyn": a, "swapped": b} for n, (a, b) in sorted(differ.items())},
        "failing_on_both": sorted(
            n for n in plain if plain[n] in ("failure", "error") and swapped.get(n) == plain[n]
        ),
    }
    print(json.dumps(result, indent=1))
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    auto_cli(main)
