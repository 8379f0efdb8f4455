"""``anode-experiments cnf`` at tiny settings: outputs, report, claims, matched parameters,
profiles."""

from __future__ import annotations

import json

import pytest
import torch

from anode_plugin import AugmentedCNF, MLPVectorField
from anode_plugin.experiments import build_parser, main
from anode_plugin.experiments.cnf import (
    CNF_PROFILES,
    DEFAULT_MODELS,
    MODELS,
    CNFConfig,
    build_flow,
    cnf_claims,
    cnf_config,
    match_cnf_hidden,
)
from anode_plugin.experiments.cnf._train import iw_bounds

TINY = [
    "--densities",
    '["two_moons", "digits"]',
    "--seeds",
    "2",
    "--steps",
    "3",
    "--digits_steps",
    "2",
    "--fm_steps",
    "4",
    "--digits_fm_steps",
    "2",
    "--iw_points",
    "8",
    "--iw_max_samples",
    "4",
    "--batch_size",
    "32",
    "--digits_hidden_dim",
    "16",
    "--n_train",
    "200",
    "--n_test",
    "50",
    "--grid",
    "6",
    "--figure_samples",
    "40",
    "--eval_samples",
    "2",
    "--workers",
    "1",
]


def test_cnf_experiment_writes_its_results_report_and_figures(tmp_path):
    out = tmp_path / "cnf"
    assert main(["cnf", *TINY, "--output_dir", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 2 * 2 * len(DEFAULT_MODELS)
    rows = {(r["density"], r["model"]): r for r in results["summary"]}
    assert set(rows) == {(d, m) for d in ("two_moons", "digits") for m in DEFAULT_MODELS}
    for (density, model), row in rows.items():
        assert row["seeds"] == 2
        assert (row["bits_per_dim"] is None) == (density != "digits")
        assert (row["augment_dims"] > 0) == ("augmented" in model)
        assert row["parameters"] <= rows[(density, "cnf")]["parameters"]
        assert row["test_nll_matched"] is not None and row["eval_nfe"] > 0
        solved = model != "flow_matching"  # flow matching trains without a solve
        assert (row["nfe_forward_late"] > 0) == solved
        assert (row["nfe_backward_late"] > 0) == solved
        assert (row["iw_bounds"] is not None) == (model == "augmented_cnf")
    assert rows[("two_moons", "flow_matching")]["steps"] == 4
    assert list(rows[("digits", "augmented_cnf")]["iw_bounds"]) == ["1", "2", "4"]
    # Per density: 3 variational, 4 exact, 1 bound, 2 flow-matching checks.
    assert len(results["claims"]) == 10 * 2
    report = (out / "report.md").read_text()
    assert "| two_moons | CNF (p = 0) |" in report and "checks hold" in report
    assert "| two_moons | exact augmented CNF |" in report
    assert "## The importance-weighted bound" in report
    for figure in (
        "cnf_densities.png",
        "cnf_digits_samples.png",
        "cnf_nfe.png",
        "cnf_iw_bound.png",
    ):
        assert (out / figure).stat().st_size > 0
        assert f"]({figure})" in report
    (out / "report.md").unlink()
    assert main(["report", str(out / "results.json")]) == 0
    assert (out / "report.md").read_text() == report


@pytest.mark.parametrize(("d", "p", "hidden"), [(2, 2, 32), (64, 8, 64)])
def test_the_augmented_flow_has_at_most_the_plain_flows_parameters(d, p, hidden):
    def count(flow):
        return sum(q.numel() for q in flow.parameters())

    plain = count(AugmentedCNF(MLPVectorField(d, hidden), d, 0))
    width = match_cnf_hidden(d, p, hidden, 16)
    augmented = count(
        AugmentedCNF(MLPVectorField(d + p, width), d, p, q="learned", q_hidden_dim=16)
    )
    wider = count(
        AugmentedCNF(MLPVectorField(d + p, width + 1), d, p, q="learned", q_hidden_dim=16)
    )
    assert augmented <= plain < wider


def test_claims_are_checked_per_density_from_the_rows():
    def row(model, nll, nfe):
        return {
            "density": "two_moons",
            "model": model,
            "test_nll": sum(nll) / len(nll),
            "test_nll_per_seed": nll,
            "nfe_forward_late": nfe,
        }

    checks = cnf_claims([row("cnf", [3.0, 3.0], 20.0), row("augmented_cnf", [2.9, 3.1], 26.0)])
    assert [(c["key"], c["holds"]) for c in checks] == [
        ("lower_nll", False),
        ("lower_nll_every_seed", False),
        ("fewer_nfe", False),
    ]
    checks = cnf_claims([row("cnf", [3.0, 3.0], 30.0), row("augmented_cnf", [2.9, 2.8], 26.0)])
    assert all(c["holds"] for c in checks)
    # One seed: measured, not judged.
    checks = cnf_claims([row("cnf", [3.0], 30.0), row("augmented_cnf", [2.9], 26.0)])
    assert {c["holds"] for c in checks} == {None}
    assert all(c["not_judged"] == "not judged: 1 seed(s), a claim needs at least 2" for c in checks)


def test_flow_matching_tying_maximum_likelihood_does_not_hold():
    # The cnf report counted 2.571 vs 2.571 as "holds".
    rows = [
        {
            "density": "two_moons",
            "model": model,
            "test_nll": 2.571,
            "test_nll_per_seed": [2.571, 2.571],
            "nfe_forward_late": 20.0,
            "seconds_per_step": seconds,
        }
        for model, seconds in (("cnf", 0.1), ("flow_matching", 0.001))
    ]
    verdicts = {c["key"]: c["holds"] for c in cnf_claims(rows)}
    assert verdicts == {"flow_matching_cheaper": True, "flow_matching_nll": False}


def test_cnf_config_refuses_an_unknown_density_or_model():
    with pytest.raises(ValueError, match=r"`densities` must be one of \['two_moons', "):
        CNFConfig(densities=("spirals",))
    with pytest.raises(ValueError, match=r"`models` must be one of \['cnf', 'augmented_cnf', "):
        CNFConfig(models=("ffjord",))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("digits", [False, True])
def test_every_model_has_at_most_the_plain_flows_parameters(model, digits):
    def count(flow):
        return sum(q.numel() for q in flow.parameters())

    config, d = CNFConfig(), 64 if digits else 2
    plain = count(build_flow("cnf", d, config, digits=digits))
    flow = build_flow(model, d, config, digits=digits)
    assert count(flow) <= plain
    assert flow.is_exact == (model != "augmented_cnf")
    assert flow.trace == ("hutchinson" if digits else "exact")


def test_the_profile_sets_defaults_and_explicit_options_win():
    parser = build_parser()
    argv = ["cnf", "--profile", "long", "--seeds", "1"]
    config = cnf_config(parser.parse_args(argv).cnf, argv)
    long = CNF_PROFILES["long"]
    assert config.seeds == 1  # given
    assert (config.steps, config.fm_steps) == (long["steps"], long["fm_steps"])
    assert "digits" not in config.densities
    default = cnf_config(parser.parse_args(["cnf"]).cnf, ["cnf"])
    assert default == CNFConfig()


def test_the_bound_diagnostics_give_every_power_of_two():
    flow = build_flow("augmented_cnf", 2, CNFConfig(), digits=False)
    bounds = iw_bounds(flow, torch.randn(5, 2), 8)
    assert list(bounds) == [1, 2, 4, 8]
    assert all(isinstance(v, float) for v in bounds.values())
