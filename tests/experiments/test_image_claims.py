"""The CPU profile of ``anode-images`` and its claims report, computed from the runs."""

from __future__ import annotations

import dataclasses
import inspect
import json
from types import SimpleNamespace

import pytest
from image_standins import write_mnist

from anode_plugin.experiments.images import (
    IMAGE_SETUPS,
    PROFILES,
    ImageBenchmarkConfig,
    run_image_benchmark,
)
from anode_plugin.experiments.images._image_claims import image_claims
from anode_plugin.experiments.images._report import claims_report
from anode_plugin.experiments.images._run import per_epoch


def _run(model: str, seed: int, acc: float, fwd: float, bwd: float, last: float) -> dict:
    return {
        "model": model,
        "seed": seed,
        "filters": 30 if model == "node" else 23,
        "augment_dims": 0 if model == "node" else 5,
        "parameters": 9_172 if model == "node" else 9_175,
        "test_acc": acc,
        "final_train_loss": 0.1,
        "nfe_forward": fwd,
        "nfe_backward": bwd,
        "nfe_forward_last_epoch": last,
        "nfe_backward_last_epoch": bwd,
        "nfe_forward_per_epoch": [fwd - 1, last],
        "nfe_backward_per_epoch": [bwd, bwd],
        "train_seconds": 1.0,
    }


def _claim(report: str, start: str) -> str:
    lines = [line for line in report.splitlines() if line.startswith("- ") and start in line]
    assert len(lines) == 1, (start, report)
    return lines[0]


def test_cpu_profile_writes_the_claims_of_its_own_runs(tmp_path):
    table = run_image_benchmark(
        profile="cpu",
        seeds=[0],
        max_steps=2,
        train_subset=64,
        test_subset=64,
        out_dir=str(tmp_path),
    )
    saved = json.loads((table.parent / "runs.json").read_text())
    settings, runs = saved["settings"], saved["runs"]
    assert settings["profile"] == "cpu" and settings["epochs"] == PROFILES["cpu"]["max_epochs"]
    assert settings["backend"] == "native" and settings["reconstruction"]["samples"] == 0
    node, anode = (next(r for r in runs if r["model"] == m) for m in ("node", "anode"))
    assert (node["parameters"], anode["parameters"]) == (9_172, 9_175)
    for run in runs:
        assert "reconstruction_error" not in run  # the profile skips the check
        assert len(run["nfe_forward_per_epoch"]) == 2  # 64 images, batch 64: 1 step an epoch
        assert run["nfe_forward_last_epoch"] == run["history"]["nfe_forward"][-1]
    report = (table.parent / "claims.md").read_text()
    assert "digits, 1 seed(s), 2 steps of batch 64 (128 images), backend native" in report
    fwd = _claim(report, "fewer forward NFE per training step than NODE. ")
    assert f"ANODE {anode['nfe_forward']:.2f} vs NODE {node['nfe_forward']:.2f}" in fwd
    acc = _claim(report, "test accuracy")
    assert f"ANODE {100 * anode['test_acc']:.2f} vs NODE {100 * node['test_acc']:.2f}" in acc
    # One seed has no spread: the claim is measured and shown, never judged.
    assert acc.startswith("- **Not judged** (1 seed(s), a claim needs at least 2)")
    # runs.json keeps the same claims as data (the shared ClaimCheck records)
    saved_claims = {c["key"]: c for c in saved["claims"]}
    assert saved_claims["test_acc"]["holds"] is None
    assert saved_claims["test_acc"]["measured"] in acc


def test_claims_say_which_hold_and_in_how_many_seeds():
    runs = []
    # ANODE's accuracy margins 8, 8 and -0.5 points: mean 5.17, beyond their spread 4.91.
    for seed, (node_acc, anode_acc) in enumerate([(0.90, 0.98), (0.90, 0.98), (0.94, 0.935)]):
        runs.append(_run("node", seed, node_acc, fwd=20.0, bwd=30.0, last=26.0))
        # more forward NFE than the NODE over training, fewer in the last epoch
        runs.append(_run("anode", seed, anode_acc, fwd=21.0 + seed, bwd=25.0, last=24.0))
    settings = {"epochs": 2, "backend": "torchdyn"}
    report = claims_report("digits", IMAGE_SETUPS["digits"], runs, settings)
    fwd = _claim(report, "fewer forward NFE per training step than NODE. ")
    assert fwd.startswith("- **Does not hold**") and "in 0/3 seed(s)" in fwd
    assert "ANODE 22.00 vs NODE 20.00" in fwd
    last = _claim(report, "in the last epoch")
    assert last.startswith("- **Holds**") and "in 3/3 seed(s)" in last
    assert _claim(report, "backward NFE").startswith("- **Holds**")
    acc = _claim(report, "test accuracy")
    assert acc.startswith("- **Holds on the mean, not in every seed**") and "2/3" in acc
    assert "| 2 | 26.0 / 30.0 | 24.0 / 25.0 |" in report  # NFE by epoch, mean over seeds


@pytest.mark.parametrize(
    ("accuracies", "verdict"),
    [
        # An exact tie "held" as "at least NODE's" (74.20 vs 74.20 after 63 steps).
        ([(0.742, 0.742), (0.75, 0.75)], "- **Does not hold**: ANODE's test accuracy is higher"),
        # Margins 3, -2, 2 points: a mean of 1.0 inside a spread of 2.6.
        (
            [(0.90, 0.93), (0.92, 0.90), (0.90, 0.92)],
            "- **Does not hold** (within the seeds' spread: margin 1.00 <= 2.65)",
        ),
        ([(0.90, 0.91), (0.90, 0.92)], "- **Holds**: ANODE's test accuracy is higher"),
        # One seed has no spread to be beyond: measured, never judged.
        ([(0.90, 0.91)], "- **Not judged** (1 seed(s), a claim needs at least 2): ANODE's"),
        ([(0.742, 0.742)], "- **Not judged** (1 seed(s), a claim needs at least 2): ANODE's"),
    ],
)
def test_a_claim_needs_a_margin_beyond_the_seeds_spread(accuracies, verdict):
    runs = []
    for seed, (node_acc, anode_acc) in enumerate(accuracies):
        runs += [
            _run("node", seed, node_acc, 20, 30, 20),
            _run("anode", seed, anode_acc, 20, 30, 20),
        ]
    report = claims_report("digits", IMAGE_SETUPS["digits"], runs, {"epochs": 2})
    assert _claim(report, "test accuracy").startswith(verdict)
    equal_nfe = "- **Does not hold**" if len(accuracies) > 1 else "- **Not judged**"
    assert _claim(report, "backward NFE").startswith(equal_nfe)


def test_claims_need_both_models_of_a_seed():
    runs = [_run("node", 0, 0.9, 20, 30, 20), _run("anode", 1, 0.9, 20, 30, 20)]
    report = claims_report("digits", IMAGE_SETUPS["digits"], runs, {"epochs": 2})
    assert "No seed ran both models" in report
    assert all(check.holds is None for check in image_claims(runs))


def test_the_driver_takes_the_configurations_options_and_defaults():
    # run_image_benchmark keeps its keywords; they are the config's fields, defaults and all.
    parameters = inspect.signature(run_image_benchmark).parameters
    fields = dataclasses.fields(ImageBenchmarkConfig)
    assert list(parameters) == [f.name for f in fields]
    assert all(parameters[f.name].default == f.default for f in fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ImageBenchmarkConfig().seeds = (0,)  # type: ignore[misc]


def test_the_command_line_is_the_configurations_fields():
    from anode_plugin.experiments.images._cli import _parser

    parsed = _parser().parse_args(["--seeds", "[4]", "--match_node", "true"]).as_dict()
    parsed.pop("config")
    defaults = {f.name: f.default for f in dataclasses.fields(ImageBenchmarkConfig)}
    assert parsed.keys() == defaults.keys()

    def as_lists(options: dict) -> dict:
        return {k: list(v) if isinstance(v, tuple | list) else v for k, v in options.items()}

    assert as_lists(parsed) == as_lists({**defaults, "seeds": [4], "match_node": True})
    assert ImageBenchmarkConfig(**parsed).seeds == [4]


def test_per_epoch_averages_each_epoch_and_the_last():
    steps = [SimpleNamespace(nfe_forward=f, nfe_backward=2 * f) for f in (14, 14, 20, 26, 32)]
    out = per_epoch(steps, steps_per_epoch=2)
    assert out["nfe_forward_per_epoch"] == [14, 23, 32]
    assert out["nfe_backward_last_epoch"] == 64


def test_profile_backend_and_dataset_are_validated():
    with pytest.raises(ValueError, match="`profile` must be None or one of"):
        run_image_benchmark(profile="gpu")
    with pytest.raises(ValueError, match="profile='cpu' runs dataset='digits'"):
        run_image_benchmark("mnist", profile="cpu")
    with pytest.raises(ValueError, match=r"`backend` must be one of \[.torchdyn., .torchdiffeq."):
        run_image_benchmark(backend="scipy")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        # 0 used to mean the default (10 epochs, batch 64) and -1 epochs trained forever.
        ({"max_epochs": 0}, r"`max_epochs` must be a positive integer, got 0"),
        ({"max_epochs": -1}, r"`max_epochs` must be a positive integer, got -1"),
        ({"batch_size": 0}, r"`batch_size` must be a positive integer, got 0"),
        ({"train_subset": 0}, r"`train_subset` must be a positive integer, got 0"),
        ({"max_steps": 0}, r"`max_steps` must be a positive integer, or -1 for no limit, got 0"),
        # The same seed twice reported "Runs 2, ± 0.0" from one run.
        ({"seeds": [0, 0]}, r"`seeds` must be distinct, got \[0, 0\]"),
    ],
)
def test_options_that_were_silently_replaced_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        run_image_benchmark(**options)


def test_the_mnist_cpu_profile_runs_the_papers_pair_at_a_tiny_size(tmp_path):
    # The profile's own code path (its data, models, steps, checks and report) on
    # stand-in MNIST files, 3 steps of batch 4 instead of 600 of 32.
    root, _ = write_mnist(tmp_path / "data")
    table = run_image_benchmark(
        profile="mnist-cpu",
        data_dir=str(root),
        verify_checksums=False,
        max_steps=3,
        batch_size=4,
        reconstruction_samples=2,
        out_dir=str(tmp_path / "out"),
    )
    saved = json.loads((table.parent / "runs.json").read_text())
    settings, runs = saved["settings"], saved["runs"]
    assert settings["profile"] == "mnist-cpu" and settings["dataset"] == "mnist"
    assert settings["max_steps"] == 3 and settings["test_subset"] is None  # every test image
    # The paper's pair exactly (the reference code's filters, p and parameter counts).
    pairs = {
        (r["model"], r["seed"]): (r["filters"], r["augment_dims"], r["parameters"]) for r in runs
    }
    assert pairs == {
        ("node", 0): (92, 0, 85_316),
        ("anode", 0): (64, 5, 85_462),
        ("node", 1): (92, 0, 85_316),
        ("anode", 1): (64, 5, 85_462),
    }
    for run in runs:
        assert len(run["history"]["loss"]) == 3 and run["loosest_tol"] is not None
        assert run["steps_to_node_loss"] is None or 1 <= run["steps_to_node_loss"] <= 3
    report = (table.parent / "claims.md").read_text()
    assert "# Image claims: mnist, 2 seed(s)" in report
    assert "## Reaching the NODE's final training loss (Figure 10)" in report
    assert "| this run (mean of 2 seed(s)) |" in report and "3 steps of batch 4" in report
    keys = {c["key"] for c in saved["claims"]}
    assert {"test_acc", "steps_to_node_loss", "nfe_to_node_loss"} <= keys
    assert (table.parent / "figures.png").stat().st_size > 0


def test_the_mnist_cpu_profile_sets_its_defaults_and_explicit_options_win():
    config = ImageBenchmarkConfig(profile="mnist-cpu")
    setup = config.setup()
    assert (config.dataset, tuple(config.seeds), config.max_steps) == ("mnist", (0, 1), 600)
    assert config.data_kwargs(setup)["batch_size"] == 32
    assert config.reconstruction["samples"] == 32
    mine = ImageBenchmarkConfig(profile="mnist-cpu", seeds=(3,), max_steps=5, batch_size=8)
    assert (tuple(mine.seeds), mine.max_steps) == ((3,), 5)
    assert mine.data_kwargs(setup)["batch_size"] == 8
    # Without a profile the defaults are as before.
    plain = ImageBenchmarkConfig()
    assert (plain.dataset, tuple(plain.seeds), plain.max_steps) == ("digits", (0, 1, 2), -1)


def test_max_epochs_given_with_the_mnist_profile_lifts_its_step_limit():
    config = ImageBenchmarkConfig(profile="mnist-cpu", max_epochs=2)
    assert (config.max_epochs, config.max_steps) == (2, -1)
