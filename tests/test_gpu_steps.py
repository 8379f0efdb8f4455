"""benchmarks/gpu_steps.py runs on the CPU, tiny, and writes both backends' figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_steps.py"


def test_gpu_steps_runs_on_cpu(tmp_path):
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--steps", "1", "--batch", "8"]
    command += ["--warmup", "0", "--anode_filters", "2", "--node_filters", "2"]
    command += ["--mnist_root", str(tmp_path / "none"), "--out_dir", str(tmp_path)]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    data = json.loads((tmp_path / "gpu_steps.json").read_text())
    assert data["meta"]["device"] == "cpu" and data["meta"]["data"] == "synthetic"
    rows = data["rows"]
    assert {(r["backend"], r["model"]) for r in rows} == {
        (b, m) for b in ("torchdyn", "torchdiffeq", "native") for m in ("node", "anode")
    }
    assert all(r["median_step_s"] > 0 and r["nfe_forward"] > 0 for r in rows)
    # dopri5: two evaluations to choose the first step, then six per step attempt.
    assert all((r["nfe_forward"] - 2) % 6 == 0 for r in rows), rows
    assert all(r["nfe_backward"] > 0 for r in rows)  # the adjoint solve ran
    assert "| ANODE | torchdiffeq | contiguous |" in (tmp_path / "gpu_steps.md").read_text()


def test_gpu_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT.with_name("gpu.sh"))], check=True)
