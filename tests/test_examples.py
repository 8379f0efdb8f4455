"""Every script in examples/ runs in its fast mode and writes what it says it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OUTPUTS = {
    "augmenter_in_torchdyn.py": ["losses.csv", "features.png"],
    "custom_vector_field.py": ["checks.txt", "trajectories_1d.png"],
    "spheres_node_vs_anode.py": ["history.csv", "nfe.png"],
    "lightning_nfe_budget.py": [
        "nfe_NODE.csv",
        "nfe_ANODE.csv",
        "nfe.png",
        "NODE/checkpoints/nfe-budget-epoch=0-step=1.ckpt",
    ],
    "image_benchmark.py": ["results.csv", "nfe.png"],
    "ddp.py": ["nfe.csv", "summary.json", "checkpoints/epoch=1-step=8.ckpt"],
}


def test_every_example_is_listed_here_and_in_the_readme():
    scripts = {path.name for path in EXAMPLES.glob("*.py")}
    assert scripts == set(OUTPUTS)
    readme = (EXAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in scripts)


@pytest.mark.parametrize("script", list(OUTPUTS))
def test_example_runs_in_fast_mode(script, tmp_path):
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # Run from tmp_path: whatever a script writes by default lands there, not in the repo.
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--fast", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    missing = [name for name in OUTPUTS[script] if not (out / name).is_file()]
    assert not missing, f"{script} did not write {missing}; it wrote {sorted(out.rglob('*'))}"
    assert f"wrote {out}" in done.stdout
    if script == "ddp.py":  # really two processes
        assert json.loads((out / "summary.json").read_text())["processes"] == 2
