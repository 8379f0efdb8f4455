"""The toy experiments: the command end to end, the claim checks and a reduced reproduction."""

from __future__ import annotations

import copy
import json
import math
import multiprocessing
import time

import pytest
import torch

from anode_plugin.datasets import ConcentricSpheresDataModule, G1dDataModule, ToyDataModule
from anode_plugin.experiments import (
    G1dConfig,
    SpheresConfig,
    ToyConfig,
    build_parser,
    check_all,
    main,
    nfe_start_end,
    render_report,
    run_experiment,
    run_models,
)
from anode_plugin.experiments._shared import map_jobs
from anode_plugin.experiments.toy._claim_checks import (
    check_g1d,
    check_generalisation,
    check_nfe,
    check_per_input_nfe,
    check_separable,
    check_separable_final,
    check_spheres,
)

# One worker: most tests check what is written, not how the runs are spread; a pool of
# fresh interpreters costs seconds to start.
TINY = [
    *("--seeds", "1", "--epochs", "1", "--snapshots", "2", "--progress_bar", "false"),
    *("--workers", "1"),
]
SIZES = {
    "g1d": ["--num_points", "4", "--batch_size", "4", "--identity", "false"],
    "spheres": ["--num_inner", "8", "--num_outer", "24", "--dims", "[1, 2]"],
    "separable": ["--num_upper", "16", "--num_lower", "16"],
    "generalisation": ["--num_inner", "16", "--num_outer", "48"],
}
ALWAYS = {"results.json", "report.md", "losses.png", "nfe.png", "nfe_vs_loss.png"}
EXPECTED = {
    # The per-input NFE figure covers g1d and the spheres.
    "g1d": ALWAYS | {"flows_1d.png", "features_g1d.png", "nfe_per_input.png"},
    "spheres": ALWAYS
    | {
        "nfe_per_input.png",
        "flows_1d.png",
        "trajectories_2d.png",
        "output_maps.png",
        "features_spheres_d1.png",
        "features_spheres_d2.png",
    },
    "separable": ALWAYS | {"trajectories_2d.png", "output_maps.png", "features_separable.png"},
    "generalisation": ALWAYS
    | {
        "trajectories_2d.png",
        "output_maps.png",
        "features_generalisation.png",
        "generalisation_generalisation.png",
    },
}


# ---------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("experiment", list(SIZES))
def test_each_experiment_writes_every_file(experiment, tmp_path, capsys):
    out = tmp_path / experiment
    assert main([experiment, *TINY, *SIZES[experiment], "--output_dir", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == EXPECTED[experiment]
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["seeds"] == 1 and results["experiment"] == experiment
    for exp in results["experiments"].values():
        assert set(exp["models"]) == {"NODE", "ANODE", "ResNet"}
        for name, model in exp["models"].items():
            (run,) = model["runs"]
            assert math.isfinite(run["final_loss"])
            assert len(run["loss_history"]) == run["steps_per_epoch"]
            assert (len(run["nfe_forward"]) > 0) == (name != "ResNet")
            assert len(model["viz"]["snapshots"]) == 2
        assert exp["models"]["ANODE"]["augment_dims"] == 1
    assert len(results["claims"]) == 8
    report = (out / "report.md").read_text()
    assert "## Claims" in report and "![losses.png](losses.png)" in report
    assert "Wrote" in capsys.readouterr().out


def test_report_subcommand_rebuilds_from_results_json(tmp_path):
    out = tmp_path / "run"
    main(["g1d", *TINY, *SIZES["g1d"], "--output_dir", str(out)])
    results = json.loads((out / "results.json").read_text())
    # Edit the figures: the rebuilt report must follow the JSON, not the original run.
    for run in results["experiments"]["g1d"]["models"]["NODE"]["runs"]:
        run["final_loss"] = 0.123456
    (out / "results.json").write_text(json.dumps(results))
    (out / "report.md").unlink()
    assert main(["report", str(out / "results.json")]) == 0
    assert "0.1235" in (out / "report.md").read_text()


def test_toy_scales_each_experiment_from_its_defaults():
    toy = ToyConfig(seeds=2, epochs_scale=0.5, size_scale=0.1, lr=0.01)
    spheres = toy.scaled(SpheresConfig)
    assert spheres.epochs == 15 and spheres.num_inner == 50 and spheres.num_outer == 150
    assert spheres.seeds == 2 and spheres.lr == 0.01
    g1d = toy.scaled(G1dConfig)
    assert g1d.epochs == round(G1dConfig().epochs * 0.5) and g1d.batch_size == 16
    assert ToyConfig(epochs=4).scaled(G1dConfig).epochs == 4
    with pytest.raises(ValueError, match="epochs"):
        SpheresConfig(epochs=None)


def test_parser_exposes_flags_and_rejects_bad_values(capsys):
    cfg = build_parser().parse_args(["spheres", "--seeds", "4", "--dims", "[2]"])
    assert cfg.spheres.seeds == 4 and tuple(cfg.spheres.dims) == (2,)
    assert cfg.spheres.workers >= 1  # every usable core by default
    assert build_parser().parse_args(["toy", "--workers", "3"]).toy.workers == 3
    with pytest.raises(SystemExit):
        build_parser().parse_args(["spheres", "--seeds", "many"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["toy", "--workers", "0"])
    with pytest.raises(ValueError, match="solver"):
        SpheresConfig(solver="nope")
    with pytest.raises(ValueError, match="r1 < r2 < r3"):
        SpheresConfig(r1=2.0)


# ---------------------------------------------------------------------------- claim checks
def _run(final, *, val=None, nfe=(), steps=2, per_input=None):
    run = {
        "seed": 0,
        "steps_per_epoch": steps,
        "loss_history": [final] * steps,
        "val_loss_history": [],
        "nfe_forward": list(nfe),
        "nfe_backward": [0.0] * len(nfe),
        "final_loss": final,
        "final_val_loss": val,
        "wall_time_s": 1.0,
    }
    if per_input is not None:
        run["nfe_per_input"] = dict(zip(("mean", "p90", "max"), per_input, strict=True))
    return run


def _experiment(node, anode, *, node_val=None, anode_val=None, node_nfe=None, anode_nfe=None):
    def model(p, finals, vals, nfe):
        vals = vals or [None] * len(finals)
        return {
            "augment_dims": p,
            "num_parameters": 10,
            "hidden_dim": 32,
            "runs": [
                # Per-input NFE after training (mean, p90, max): NODE's flow the costlier.
                _run(f, val=v, nfe=nfe or (), per_input=(20, 26, 56) if p else (30, 38, 62))
                for f, v in zip(finals, vals, strict=True)
            ],
        }

    return {
        "title": "synthetic",
        "config": {"epochs": 30},
        "has_validation": node_val is not None,
        "models": {
            "NODE": model(0, node, node_val, node_nfe),
            "ANODE": model(1, anode, anode_val, anode_nfe),
        },
    }


def _passing_results():
    return {
        "experiments": {
            "g1d": _experiment([0.5, 0.49], [0.001, 0.0]),
            "spheres_d1": _experiment([0.3, 0.4], [0.01, 0.02]),
            "spheres_d2": _experiment(
                [0.1, 0.2], [0.01, 0.02], node_nfe=[14, 14, 30, 30], anode_nfe=[14, 14, 20, 20]
            ),
            "generalisation": _experiment(
                [0.01, 0.01], [0.01, 0.01], node_val=[0.2, 0.3], anode_val=[0.01, 0.02]
            ),
            "separable": _experiment([0.01, 0.012], [0.008, 0.01]),
        }
    }


def test_every_claim_holds_on_passing_results():
    checks = check_all(_passing_results())
    assert [c.holds for c in checks] == [True] * 8
    report = render_report(_passing_results())
    assert "8 of 8 tested claims hold" in report and "does not hold" not in report


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        # One NODE seed fits g1d: impossible for a flow, so the claim must fail.
        (lambda r: r["g1d"]["models"]["NODE"]["runs"][1].update(final_loss=0.3), check_g1d),
        (lambda r: r["g1d"]["models"]["ANODE"]["runs"][0].update(final_loss=0.02), check_g1d),
        # ANODE worse on a single seed.
        (
            lambda r: r["spheres_d1"]["models"]["ANODE"]["runs"][1].update(final_loss=0.5),
            lambda res: check_spheres(res, 1),
        ),
        # NODE NFE grows only x1.2.
        (
            lambda r: (
                r["spheres_d2"]["models"]["NODE"]["runs"][0].update(nfe_forward=[14, 14, 17, 17])
                or r["spheres_d2"]["models"]["NODE"]["runs"][1].update(nfe_forward=[14, 14, 17, 17])
            ),
            check_nfe,
        ),
        # ANODE end NFE too close to NODE's.
        (
            lambda r: [
                run.update(nfe_forward=[14, 14, 28, 28])
                for run in r["spheres_d2"]["models"]["ANODE"]["runs"]
            ],
            check_nfe,
        ),
        # One ANODE seed's typical input as costly as NODE's cheapest seed's.
        (
            lambda r: r["spheres_d1"]["models"]["ANODE"]["runs"][1].update(
                nfe_per_input={"mean": 30, "p90": 26, "max": 56}
            ),
            check_per_input_nfe,
        ),
        # ANODE's hard inputs (p90) as costly as NODE's.
        (
            lambda r: r["g1d"]["models"]["ANODE"]["runs"][0].update(
                nfe_per_input={"mean": 20, "p90": 38, "max": 56}
            ),
            check_per_input_nfe,
        ),
        (
            lambda r: [
                run.update(final_val_loss=0.5)
                for run in r["generalisation"]["models"]["ANODE"]["runs"]
            ],
            check_generalisation,
        ),
        # NODE does not fit the separable data.
        (
            lambda r: r["separable"]["models"]["NODE"]["runs"][0].update(final_loss=0.3),
            check_separable,
        ),
        (
            lambda r: r["separable"]["models"]["NODE"]["runs"][0].update(final_loss=0.3),
            check_separable_final,
        ),
    ],
)
def test_each_claim_fails_when_its_figures_say_so(edit, check):
    results = _passing_results()
    assert check(results).holds is True
    broken = copy.deepcopy(results)
    edit(broken["experiments"])
    verdict = check(broken)
    assert verdict.holds is False
    assert "does not hold" in render_report(broken)


def test_separable_gap_on_final_loss_and_on_the_loss_curve_can_disagree():
    """A NODE that ends as low as the ANODE on the spheres but learnt slowly (Fig. 5)."""
    results = _passing_results()
    for run, final in zip(
        results["experiments"]["spheres_d2"]["models"]["NODE"]["runs"], [0.011, 0.021], strict=True
    ):
        run.update(final_loss=final, loss_history=[0.5, 0.5])
    curve, final = check_separable(results), check_separable_final(results)
    assert curve.holds is True and final.holds is False
    assert final.figures["spheres_d2_gap"] == pytest.approx(0.001)


def test_claims_of_experiments_not_run_are_reported_as_such():
    results = {"experiments": {"g1d": _experiment([0.5, 0.6], [0.0, 0.001])}}
    checks = {c.key: c for c in check_all(results)}
    assert checks["g1d"].holds is True
    assert checks["spheres_d2"].holds is None and "not run" in checks["spheres_d2"].measured
    # The per-input claim is checked on the data sets that were run, and says which were not.
    assert checks["nfe_per_input"].holds is True
    assert checks["nfe_per_input"].measured.endswith("not run: spheres_d1, spheres_d2")
    assert "2 of 2 tested claims hold" in render_report(results)


def test_a_claim_on_one_seed_is_measured_but_not_judged():
    # One seed has no spread: even a clear difference could be that seed's luck.
    results = {"experiments": {"g1d": _experiment([0.5], [0.0])}}
    checks = {c.key: c for c in check_all(results)}
    assert checks["g1d"].holds is None and checks["g1d"].figures["node"] == [0.5]
    assert checks["g1d"].not_judged == "not judged: 1 seed(s), a claim needs at least 2"
    report = render_report(results)
    assert "0 of 0 tested claims hold; 2 not judged (fewer than 2 seeds)" in report
    assert "| not judged: 1 seed(s), a claim needs at least 2 |" in report


def test_per_input_claim_of_results_without_per_input_figures_is_not_run():
    results = _passing_results()
    for run in results["experiments"]["g1d"]["models"]["NODE"]["runs"]:
        del run["nfe_per_input"]  # results.json of a release before the figure
    check = check_per_input_nfe(results)
    assert check.holds is None and "per-input NFE of g1d" in check.measured


def test_nfe_start_end_averages_first_and_last_epoch():
    assert nfe_start_end(_run(0.0, nfe=[10, 12, 20, 20, 30, 34], steps=2)) == (11.0, 32.0)
    assert all(math.isnan(v) for v in nfe_start_end(_run(0.0)))


# ---------------------------------------------------------------------------- reduced claims
def test_reduced_g1d_and_spheres_claims_hold():
    """A reduced-size run of the paper's g1d and d = 2 spheres claims.

    Sized so that the claims hold with a wide margin: over seeds 0-7 the ANODE's g1d
    loss stayed below 2e-4 and it beat the NODE on the spheres by 0.09 or more.
    """
    g1d_config = G1dConfig(seeds=2, epochs=80, lr=3e-2, progress_bar=False, snapshots=2)
    g1d = run_models(
        "g1d",
        lambda seed: G1dDataModule(num_points=8, batch_size=8, seed=seed),
        g1d_config,
        readout=False,
        models=("NODE", "ANODE"),
    )
    spheres_config = SpheresConfig(
        seeds=2, epochs=12, batch_size=16, progress_bar=False, snapshots=2
    )
    spheres = run_models(
        "spheres",
        lambda seed: ConcentricSpheresDataModule(
            num_inner=64, num_outer=192, batch_size=16, seed=seed
        ),
        spheres_config,
        models=("NODE", "ANODE"),
    )
    results = {"experiments": {"g1d": g1d, "spheres_d2": spheres}}
    g1d_check, spheres_check = check_g1d(results), check_spheres(results, 2)
    assert g1d_check.holds, g1d_check.measured
    assert spheres_check.holds, spheres_check.measured


def _without_timings(value):
    """The results with wall-clock figures (and how they were run) removed: everything
    else must repeat exactly."""
    if isinstance(value, dict):
        return {
            k: _without_timings(v)
            for k, v in value.items()
            if "time" not in k and "seconds" not in k and k not in ("wall", "command", "workers")
        }
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_the_same_seed_gives_the_same_results_on_cpu(tmp_path):
    args = ["spheres", *TINY, *SIZES["spheres"]]
    assert main([*args, "--output_dir", str(tmp_path / "a")]) == 0
    assert main([*args, "--output_dir", str(tmp_path / "b")]) == 0
    first = json.loads((tmp_path / "a" / "results.json").read_text())
    second = json.loads((tmp_path / "b" / "results.json").read_text())
    first, second = _without_timings(first), _without_timings(second)
    assert first["experiments"]  # something was compared
    assert first == second


# ---------------------------------------------------------------------------- worker processes
def test_parallel_runs_give_exactly_the_sequential_results():
    """Two data sets, two seeds: each run seeds itself, so neither the process it runs in
    nor the order in which runs finish changes a single figure."""
    config = SpheresConfig(
        seeds=2, epochs=2, dims=(1, 2), num_inner=8, num_outer=24, batch_size=8,
        progress_bar=False, snapshots=2,
    )  # fmt: skip
    sequential = _without_timings(run_experiment("spheres", config, workers=1))
    parallel = _without_timings(run_experiment("spheres", config, workers=2))
    assert list(sequential) == ["spheres_d1", "spheres_d2"]
    for exp in sequential.values():
        assert list(exp["models"]) == ["NODE", "ANODE", "ResNet"]
        assert [run["seed"] for run in exp["models"]["NODE"]["runs"]] == [0, 1]
    assert parallel == sequential
    # The same key order too, so that results.json differs in its timings only.
    assert json.dumps(parallel) == json.dumps(sequential)


def _spheres_failing_on_seed_1(seed):
    # Radii out of order on seed 1 only: its run fails while the others train.
    return ConcentricSpheresDataModule(
        num_inner=8, num_outer=24, r1=2.0 if seed == 1 else 0.5, batch_size=8, seed=seed
    )


def test_a_failing_run_raises_its_own_error_here_and_stops_the_workers():
    config = SpheresConfig(seeds=3, epochs=1, progress_bar=False, snapshots=2)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"0 < r1 < r2 < r3, got r1=2.0") as caught:
        run_models("failing", _spheres_failing_on_seed_1, config, workers=2)
    # The worker's traceback comes along with the original exception.
    assert "_spheres_failing_on_seed_1" in str(caught.value.__cause__)
    assert multiprocessing.active_children() == []
    assert time.perf_counter() - start < 120


def test_jobs_must_pickle_to_go_to_a_worker_and_workers_must_be_positive():
    config = SpheresConfig(seeds=1, epochs=1, progress_bar=False)
    with pytest.raises(TypeError, match=r"lambdas.*workers=1"):
        run_models("lambda", lambda seed: G1dDataModule(seed=seed), config, workers=2)
    with pytest.raises(ValueError, match="`workers` must be a positive integer, got 0"):
        map_jobs(abs, [1, -2], workers=0)
    with pytest.raises(ValueError, match="submit_order"):
        map_jobs(abs, [1, -2], submit_order=[0, 0])
    # In order of the jobs, whatever order they are handed out in.
    assert map_jobs(abs, [1, -2, 3], submit_order=[2, 0, 1]) == [1, 2, 3]


def _data_from_the_global_generator(seed):
    x = torch.randn(8, 2)
    return ToyDataModule(x, x[:, :1].sign(), batch_size=8, seed=seed)


def test_a_run_seeds_the_global_generators_before_it_builds_its_data():
    config = SpheresConfig(seeds=1, epochs=1, progress_bar=False, snapshots=2)
    runs = []
    for state in (1, 2):
        torch.manual_seed(state)  # what earlier runs in this process left behind
        runs.append(
            run_models("global", _data_from_the_global_generator, config, models=("ResNet",))
        )
    assert runs[0]["viz_inputs"] == runs[1]["viz_inputs"]
    assert _without_timings(runs[0]) == _without_timings(runs[1])


def test_results_are_taken_in_as_each_job_finishes():
    """The progress bar moves with each finished run, not once at the end."""
    finished = []

    def describe(seconds):
        finished.append(time.perf_counter())
        return f"slept {seconds} s"

    assert map_jobs(time.sleep, [0, 2], workers=2, describe=describe) == [None, None]
    assert finished[1] - finished[0] > 1


def test_the_report_says_where_the_time_goes_and_how_parallel_the_jobs_ran():
    results = _passing_results()
    assert "## Where the time goes" not in render_report(results)  # older results: no table
    for exp in results["experiments"].values():
        for model in exp["models"].values():
            for run in model["runs"]:
                run["job_wall_time_s"], run["job_cpu_time_s"] = 3.0, 2.5
    results["wall_time_s"] = 40.0
    results["environment"] = {"workers": 2}
    report = render_report(results)
    assert "| g1d | NODE | 2 | 6.0 | 5.0 |" in report
    # 5 data sets x 2 models x 2 seeds = 20 jobs: 60 job seconds, 50 CPU seconds.
    assert "| all | all | | 60.0 | 50.0 |" in report
    assert "CPU seconds are 1.25x the wall time (at most 2x" in report
    assert "job seconds are 1.50x it" in report
