"""Figure 10's claim: iterations and NFE until each model reaches the NODE's final loss."""

from __future__ import annotations

import pytest

from anode_plugin.experiments.images._anchors import anchor_lines
from anode_plugin.experiments.images._catch_up import (
    add_catch_up,
    catch_up_lines,
    moving_means,
    smoothing_window,
    steps_to_reach,
)
from anode_plugin.experiments.images._image_claims import image_claims


def test_moving_means_average_the_trailing_window():
    assert moving_means([4.0, 2.0, 6.0, 0.0], 2) == [4.0, 3.0, 4.0, 3.0]
    assert moving_means([1.0, 3.0], 5) == [1.0, 2.0]  # fewer steps than the window


@pytest.mark.parametrize(
    ("losses", "target", "window", "step"),
    [
        ([5.0, 4.0, 3.0, 2.0, 1.0], 3.0, 1, 3),
        ([5.0, 4.0, 3.0, 2.0, 1.0], 3.0, 2, 4),  # the mean of 3 and 2 is 2.5; of 4 and 3, 3.5
        ([5.0, 4.0], 3.0, 1, None),
        ([1.0], 1.0, 1, 1),  # reaching means at most: equal counts
    ],
)
def test_steps_to_reach_is_the_first_smoothed_step_at_or_below(losses, target, window, step):
    assert steps_to_reach(losses, target, window) == step


def test_smoothing_window_is_a_tenth_between_1_and_50():
    assert [smoothing_window(n) for n in (1, 9, 10, 200, 500, 5000)] == [1, 1, 1, 20, 50, 50]


def _run(model: str, seed: int, losses: list[float], nfe: float) -> dict:
    return {
        "model": model,
        "seed": seed,
        "history": {"loss": losses, "nfe_forward": [nfe] * len(losses)},
        "test_acc": 0.9,
        "nfe_forward": nfe,
        "nfe_forward_last_epoch": nfe,
        "nfe_backward": nfe,
    }


def _pair(seed: int, anode_losses: list[float]) -> list[dict]:
    node = [1.0 - 0.01 * i for i in range(100)]  # final window mean: 0.055 (window 10)
    return [_run("node", seed, node, 26.0), _run("anode", seed, anode_losses, 20.0)]


def test_each_run_gets_its_iterations_and_nfe_to_the_nodes_final_loss():
    runs = _pair(0, [1.0 - 0.1 * i for i in range(100)])
    add_catch_up(runs)
    node, anode = runs
    assert node["node_final_loss"] == pytest.approx(0.055)
    assert node["steps_to_node_loss"] == 100  # the NODE reaches its own at its end
    assert node["nfe_to_node_loss"] == 2600
    # ANODE's smoothed loss: mean of 1 - 0.1 i over the last 10 steps <= 0.055 at step 15
    assert anode["steps_to_node_loss"] == 15 and anode["nfe_to_node_loss"] == 300
    lines = catch_up_lines(runs)
    assert "| 0 | 0.0550 | 100 | 15 | 6.7x | 2,600 | 300 |" in lines


def test_the_catch_up_claims_hold_only_with_a_margin_over_two_seeds():
    fast = [1.0 - 0.1 * i for i in range(100)]
    runs = _pair(0, fast) + _pair(1, fast)
    checks = {c.key: c for c in image_claims(runs)}
    assert checks["steps_to_node_loss"].holds is True
    assert checks["nfe_to_node_loss"].holds is True
    # An ANODE that never gets there counts as never, and the claim fails.
    slow = [1.0] * 100
    runs = _pair(0, fast) + _pair(1, slow)
    checks = {c.key: c for c in image_claims(runs)}
    assert checks["steps_to_node_loss"].holds is False
    assert "| 1 | 0.0550 | 100 | never | - | 2,600 | never |" in catch_up_lines(runs)
    # One seed: measured, not judged.
    checks = {c.key: c for c in image_claims(_pair(0, fast))}
    assert checks["steps_to_node_loss"].holds is None


def test_runs_without_history_have_no_catch_up_claims():
    runs = [_run("node", 0, [1.0], 26.0), _run("anode", 0, [1.0], 20.0)]
    for run in runs:
        del run["history"]
    assert "steps_to_node_loss" not in {c.key for c in image_claims(runs)}
    assert catch_up_lines(runs) == []


def test_the_anchors_stand_beside_this_run_with_its_length():
    runs = _pair(0, [0.5] * 100)
    lines = anchor_lines("mnist", runs, "600 steps of batch 32 (19,200 images)")
    assert "| Dupont et al. 2019, Table 1 | 96.4 ± 0.5 | 98.2 ± 0.1 | 5 runs, full training |" in (
        lines
    )
    assert "| ReScience replication | 94.16 | 98.05 | full training |" in lines
    assert "| NeurIPS 2019 reproducibility challenge | 95.57 | 97.25 | full training |" in lines
    assert (
        "| this run (mean of 1 seed(s)) | 90.00 | 90.00 | 600 steps of batch 32 (19,200 "
        "images) |" in lines
    )
    assert anchor_lines("digits", runs, "x") == []  # no published figures for the digits


def test_a_nan_loss_spoils_only_its_windows():
    nan = float("nan")
    means = moving_means([1.0, nan, 3.0, 5.0], 2)
    assert means[0] == 1.0 and means[1] != means[1] and means[2] != means[2]
    assert means[3] == 4.0  # recovered once the NaN left the window


def test_a_node_ending_on_a_nan_loss_leaves_the_claims_not_judged():
    fast = [1.0 - 0.1 * i for i in range(100)]
    runs = _pair(0, fast) + _pair(1, fast)
    for run in runs:
        if run["model"] == "node":
            run["history"]["loss"][-1] = float("nan")
    checks = {c.key: c for c in image_claims(runs)}
    assert checks["steps_to_node_loss"].holds is None
    assert checks["steps_to_node_loss"].not_judged == "not judged: a margin is not a number"
    assert "| 0 | not a number | - | - | - | - | - |" in catch_up_lines(runs)


def test_a_target_never_reached_is_saved_as_none_and_shown_as_never():
    fast = [1.0 - 0.1 * i for i in range(100)]
    runs = _pair(0, fast) + _pair(1, [1.0] * 100)
    check = {c.key: c for c in image_claims(runs)}["steps_to_node_loss"]
    assert check.figures["anode"][1] is None  # JSON has no infinity
    assert "15.00 vs 100.00, never vs 100.00" in check.measured
    assert check.figures["verdict"].startswith("**Does not hold** (not in every seed")


def test_a_claim_of_one_seed_says_so_in_its_record():
    check = {c.key: c for c in image_claims(_pair(0, [0.5] * 100))}["test_acc"]
    assert check.holds is None
    assert check.not_judged == "not judged: 1 seed(s), a claim needs at least 2"
