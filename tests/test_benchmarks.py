"""Smoke test of the benchmark suite's entry point on its tiny profile."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture
def run_module():
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)
    sys.modules.pop(spec.name, None)


def test_tiny_profile_writes_json_and_markdown(run_module, tmp_path):
    rows = run_module.main(
        profile="tiny",
        sections=("overhead", "conv_field", "conv_step", "backends", "seminorm"),
        output_dir=tmp_path,
    )
    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["meta"]["profile"] == "tiny"
    assert [r["section"] for r in data["rows"]] == [r.section for r in rows]
    assert {r.section for r in rows} == {
        "overhead",
        "conv_field",
        "conv_step",
        "backends",
        "seminorm",
    }
    assert all(r["value"] == r["value"] for r in data["rows"])  # no NaN
    table = (tmp_path / "latest.md").read_text()
    assert "| seminorm |" in table and "| overhead |" in table


def test_unknown_profile_and_section_are_refused(run_module, tmp_path):
    with pytest.raises(ValueError, match="`profile` must be one of"):
        run_module.main(profile="fast", output_dir=tmp_path)
    with pytest.raises(ValueError, match="`sections` must be taken from"):
        run_module.main(profile="tiny", sections=("speed",), output_dir=tmp_path)


def test_per_sample_section_measures_the_three_ways_side_by_side(run_module, tmp_path):
    rows = run_module.main(profile="tiny", sections=("per_sample",), output_dir=tmp_path)
    assert [r.case for r in rows[::3]] == [
        "spheres 2-D, MLP NODE",
        "g1d (noisy inputs), MLP NODE",
        "digits, conv ANODE p=5",
    ]
    for row in rows[::3]:
        modes = row.details
        assert set(modes) == {"torchdyn", "torchode joint", "torchode per-sample"}
        # Jointly stepped, every sample needs what the batch computed; per sample, the
        # needed evaluations are the samples' own, at most what the batch computed.
        for joint in ("torchdyn", "torchode joint"):
            assert modes[joint]["evaluations_needed"] == modes[joint]["evaluations_computed"]
        alone = modes["torchode per-sample"]
        assert 0 < alone["evaluations_needed"] <= alone["evaluations_computed"]
        assert (
            row.value
            == alone["evaluations_needed"] / modes["torchode joint"]["evaluations_computed"]
        )


def test_peers_section_trains_every_backend_from_the_same_weights(run_module, tmp_path):
    rows = run_module.main(profile="tiny", sections=("peers",), output_dir=tmp_path)
    names = ["native", "torchdyn", "torchdiffeq", "torchode"]
    assert [r.case for r in rows] == [
        f"{case}: {name}" for case in ("spheres ANODE", "digits conv ANODE") for name in names
    ]
    torchdyn = {r.case.split(":")[0]: r for r in rows if r.case.endswith("torchdyn")}
    for row in rows:
        case = row.case.split(":")[0]
        assert row.details["nfe_forward"] > 0 and row.details["ms_per_step"] > 0
        # The same weights and batch: the first losses agree, so after the same few steps
        # the losses are close (solvers at 1e-3 differ in the third digit at most).
        assert (
            abs(row.details["loss_after_steps"] / torchdyn[case].details["loss_after_steps"] - 1)
            < 0.05
        )
    assert torchdyn["spheres ANODE"].value == 1.0
