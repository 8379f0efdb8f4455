"""``anode-experiments cnf`` at tiny settings: outputs, report, claims, matched parameters."""

from __future__ import annotations

import json

import pytest

from anode_plugin import AugmentedCNF, MLPVectorField
from anode_plugin.experiments import main
from anode_plugin.experiments._cnf import CNFConfig, cnf_claims, match_cnf_hidden

TINY = [
    "--densities",
    '["two_moons", "digits"]',
    "--seeds",
    "2",
    "--steps",
    "3",
    "--digits_steps",
    "2",
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
    assert len(results["runs"]) == 2 * 2 * 2
    rows = {(r["density"], r["model"]): r for r in results["summary"]}
    assert set(rows) == {(d, m) for d in ("two_moons", "digits") for m in ("cnf", "augmented_cnf")}
    for (density, model), row in rows.items():
        assert row["seeds"] == 2
        assert row["nfe_forward_late"] > 0 and row["nfe_backward_late"] > 0
        assert (row["bits_per_dim"] is None) == (density != "digits")
        assert (row["augment_dims"] > 0) == (model == "augmented_cnf")
    for density in ("two_moons", "digits"):
        assert (
            rows[(density, "augmented_cnf")]["parameters"] <= rows[(density, "cnf")]["parameters"]
        )
    assert len(results["claims"]) == 3 * 2
    report = (out / "report.md").read_text()
    assert "| two_moons | CNF (p = 0) |" in report and "checks hold" in report
    for figure in ("cnf_densities.png", "cnf_digits_samples.png", "cnf_nfe.png"):
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


def test_cnf_config_refuses_an_unknown_density():
    with pytest.raises(ValueError, match=r"`densities` must be one of \['two_moons', "):
        CNFConfig(densities=("spirals",))
