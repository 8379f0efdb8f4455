"""``anode-experiments augmentations``: the command end to end (quick), data, matching, claims."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torchdiffeq import odeint

from anode_plugin.experiments import (
    AUGMENTATION_KINDS,
    AUGMENTATION_TASKS,
    AugmentationsConfig,
    check_augmentation_claims,
    damped_oscillator,
    main,
    match_hidden_dim,
)

pytestmark = pytest.mark.numerics


def test_the_quick_command_writes_a_report_with_checked_claims(tmp_path):
    out = tmp_path / "aug"
    argv = ["augmentations", "--quick", "true", "--seeds", "1", "--workers", "1"]
    assert main([*argv, "--output_dir", str(out), "--progress_bar", "false"]) == 0
    document = json.loads((out / "results.json").read_text())
    assert document["experiment"] == "augmentations"
    for task in AUGMENTATION_TASKS:
        assert set(document["results"][task]) == set(AUGMENTATION_KINDS)
        for entry in document["results"][task].values():
            (run,) = entry["runs"]
            assert len(run["nfe_forward"]) == len(run["nfe_backward"]) == 3  # quick: 3 steps
            assert run["nfe_backward"][-1] > 0  # adjoint by default
            assert math.isfinite(run["final_loss"]) and run["seconds"] > 0
    keys = [claim["key"] for claim in document["claims"]]
    assert "oscillator_second_order_lowest_loss" in keys
    # One seed: every claim on the runs' outcome is measured but not judged; the
    # parameter counts do not depend on seeds.
    verdicts = {claim["key"]: claim["holds"] for claim in document["claims"]}
    assert verdicts.pop("matched_parameters") is True
    assert set(verdicts.values()) == {None}
    assert all(c["not_judged"].startswith("not judged: 1 seed(s)") for c in document["claims"][1:])
    report = (out / "report.md").read_text()
    assert "## Claims" in report and "| oscillator | second_order |" in report
    for figure in ("augmentations_loss.png", "augmentations_nfe.png"):
        assert (out / figure).stat().st_size > 0
        assert f"![{figure}]({figure})" in report
    # The report rebuilds from results.json alone.
    (out / "report.md").unlink()
    assert main(["report", str(out / "results.json")]) == 0
    assert (out / "report.md").read_text() == report


def test_the_oscillator_data_solves_its_ode():
    omega, damping = 2.0, 0.3
    x0 = torch.tensor([[0.7], [-0.2]], dtype=torch.float64)
    times = torch.linspace(0, 3, 7, dtype=torch.float64)

    def field(t, z):
        return torch.cat([z[:, 1:], -(omega**2) * z[:, :1] - damping * z[:, 1:]], dim=1)

    z0 = torch.cat([x0, torch.zeros_like(x0)], dim=1)
    solved = odeint(field, z0, times, rtol=1e-10, atol=1e-10)[:, :, :1]
    closed = damped_oscillator(x0, times, omega=omega, damping=damping)
    torch.testing.assert_close(closed, solved, atol=2.5e-9, rtol=0)  # measured 3.1e-10
    with pytest.raises(ValueError, match=r"`damping` must be in \[0, 2 \* omega\)"):
        damped_oscillator(x0, times, omega=1.0, damping=2.0)


@pytest.mark.parametrize("task", AUGMENTATION_TASKS)
def test_parameter_counts_are_matched_within_five_percent(task):
    config = AugmentationsConfig()
    for kind in AUGMENTATION_KINDS:
        _, count, budget = match_hidden_dim(kind, task, config)
        assert abs(count - budget) <= 0.05 * budget


def test_bad_settings_name_the_setting():
    with pytest.raises(ValueError, match="`steps` must be a positive integer"):
        AugmentationsConfig(steps=0)
    with pytest.raises(ValueError, match=r"`sensitivity` must be one of \['autograd', 'adjoint'\]"):
        AugmentationsConfig(backend="torchdiffeq", sensitivity="interpolated_adjoint")
    with pytest.raises(ValueError, match="No hidden width gives"):
        match_hidden_dim("second_order", "g1d", AugmentationsConfig(hidden_dim=1))


def _results(final: dict[str, float], nfe: dict[str, float], seeds: int = 2) -> dict:
    def entry(kind: str) -> dict:
        run = {
            "final_loss": final[kind],
            "nfe_forward": [nfe[kind]] * 10,
            "nfe_backward": [1.0] * 10,
            "seconds": 1.0,
        }
        runs = [dict(run) for _ in range(seeds)]
        return {"num_parameters": 100, "parameter_budget": 100, "hidden_dim": 8, "runs": runs}

    return {task: {k: entry(k) for k in AUGMENTATION_KINDS} for task in AUGMENTATION_TASKS}


_GOOD = (
    {"NODE": 1.0, "zeros": 0.001, "input_layer": 0.002, "second_order": 0.0005},
    {"NODE": 50, "zeros": 30, "input_layer": 20, "second_order": 10},
)


def test_claims_hold_or_fail_from_the_figures_alone():
    good = _results(*_GOOD)
    assert all(check.holds for check in check_augmentation_claims(good))
    bad = _results(
        {"NODE": 0.001, "zeros": 0.5, "input_layer": 0.002, "second_order": 0.3},
        {"NODE": 10, "zeros": 30, "input_layer": 40, "second_order": 50},
    )
    verdicts = {check.key: check.holds for check in check_augmentation_claims(bad)}
    assert verdicts["matched_parameters"] is True
    assert not any(v for k, v in verdicts.items() if k != "matched_parameters")
    # One seed: measured, not judged (but the parameter counts are).
    single = {c.key: c for c in check_augmentation_claims(_results(*_GOOD, seeds=1))}
    assert single.pop("matched_parameters").holds is True
    assert all(c.holds is None and c.not_judged for c in single.values())
    # A task that was not run is reported as such, not as a failure.
    missing = {check.key: check.holds for check in check_augmentation_claims({"g1d": good["g1d"]})}
    assert missing["oscillator_second_order_lowest_loss"] is None
