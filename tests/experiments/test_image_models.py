"""The paper's image model, parameter matching, image configs and the benchmark driver."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField
from anode_plugin.datasets import (
    CIFAR10DataModule,
    MNISTDataModule,
    SVHNDataModule,
    TinyImageNetDataModule,
)
from anode_plugin.experiments import conv_ode, count_image_parameters, match_num_filters
from anode_plugin.experiments.images import IMAGE_SETUPS, ImageBenchmarkConfig, run_image_benchmark
from anode_plugin.experiments.images._progress import format_seconds
from anode_plugin.lightning import ANODEModule
from anode_plugin.lightning._cli import main as anode_main
from tests.image_standins import (
    write_cifar10,
    write_idx_folder,
    write_mnist,
    write_svhn,
    write_tiny_imagenet_zip,
)

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs" / "images"
MNIST = {"in_channels": 1, "height": 28, "width": 28, "num_classes": 10}
CIFAR = {"in_channels": 3, "height": 32, "width": 32, "num_classes": 10}
IMAGENET = {"in_channels": 3, "height": 64, "width": 64, "num_classes": 200}


def _model_parameters(filters: int, p: int, dims: dict, time_dependent: bool = True) -> int:
    c, h, w, k = dims["in_channels"], dims["height"], dims["width"], dims["num_classes"]
    field = ConvVectorField(c + p, filters, time_dependent=time_dependent)
    readout = torch.nn.Linear((c + p) * h * w, k)
    return sum(q.numel() for q in [*field.parameters(), *readout.parameters()])


@settings(max_examples=15, deadline=None)
@given(
    filters=st.integers(1, 40),
    p=st.integers(0, 6),
    c=st.integers(1, 3),
    side=st.integers(2, 9),
    k=st.integers(1, 12),
    time_dependent=st.booleans(),
)
def test_count_equals_the_modules_parameters(filters, p, c, side, k, time_dependent):
    dims = {"in_channels": c, "height": side, "width": side + 1, "num_classes": k}
    c_, h, w = c, side, side + 1
    field = ConvVectorField(c_ + p, filters, time_dependent=time_dependent)
    expected = sum(q.numel() for q in field.parameters()) + (c_ + p) * h * w * k + k
    got = count_image_parameters(filters, augment_dims=p, time_dependent=time_dependent, **dims)
    assert got == expected


def test_paper_mnist_pair_is_reproduced():
    anode = count_image_parameters(64, augment_dims=5, **MNIST)
    assert anode == _model_parameters(64, 5, MNIST) == 85_462
    node_filters = match_num_filters(anode, augment_dims=0, **MNIST)
    assert node_filters == 92
    assert abs(count_image_parameters(92, augment_dims=0, **MNIST) - anode) / anode < 0.01


@pytest.mark.parametrize(
    ("budget", "dims", "include_readout", "p"),
    [
        (84_000, MNIST, True, 0),
        (84_000, MNIST, True, 5),  # with p=10 the readout alone is over 84k
        (172_000, CIFAR, True, 0),
        (172_000, CIFAR, True, 10),
        (366_000, IMAGENET, False, 0),
        (366_000, IMAGENET, False, 10),
    ],
)
def test_paper_budgets_are_met_within_one_percent(budget, dims, include_readout, p):
    filters = match_num_filters(budget, augment_dims=p, include_readout=include_readout, **dims)
    count = count_image_parameters(filters, augment_dims=p, include_readout=include_readout, **dims)
    assert abs(count - budget) / budget < 0.01
    # No other filter count is closer.
    for other in (filters - 1, filters + 1):
        if other >= 1:
            alt = count_image_parameters(
                other, augment_dims=p, include_readout=include_readout, **dims
            )
            assert abs(alt - budget) >= abs(count - budget)


@pytest.mark.parametrize("name", sorted(IMAGE_SETUPS))
def test_every_setup_pairs_models_within_one_percent(name):
    setup = IMAGE_SETUPS[name]
    counts = {}
    for model in ("node", "anode"):
        counts[model] = count_image_parameters(
            setup.filters(model),
            augment_dims=setup.p(model),
            include_readout=setup.include_readout,
            **setup.dims(),
        )
        assert abs(counts[model] - setup.budget) / setup.budget < 0.01
    assert setup.p("node") == 0 and setup.p("anode") > 0


def test_budget_below_one_filter_is_refused():
    with pytest.raises(
        ValueError, match=r"`budget`=100 is below the \d+ parameters of the model with one filter"
    ):
        match_num_filters(100, augment_dims=0, **MNIST)


def test_conv_ode_is_the_paper_block():
    ode = conv_ode(3, 8, augment_dims=10)
    assert isinstance(ode, AugmentedNeuralODE) and ode.augment_dims == 10
    assert ode.sensitivity == "adjoint" and ode.backend == "torchdiffeq"
    assert ode.atol == ode.rtol == ode.atol_adjoint == ode.rtol_adjoint == 1e-3
    assert ode.vector_field.channels == 13 and ode.vector_field.time_dependent
    assert ode.features(torch.rand(2, 3, 5, 5)).shape == (2, 13, 5, 5)


@pytest.mark.parametrize("name", sorted(IMAGE_SETUPS))
@pytest.mark.parametrize("model", ["node", "anode"])
def test_configs_match_the_setups(name, model):
    setup = IMAGE_SETUPS[name]
    config = yaml.safe_load((CONFIGS / f"{name}-{model}.yaml").read_text())
    ode = config["model"]["ode"]["init_args"]
    field = ode["vector_field"]["init_args"]
    c, h, w = setup.datamodule.image_shape
    p = setup.p(model)
    assert field["num_filters"] == setup.filters(model) and ode["augment_dims"] == p
    assert field["channels"] == c + p and config["model"]["feature_dim"] == (c + p) * h * w
    assert ode["solver"] == "dopri5" and ode["sensitivity"] == "adjoint"
    assert ode["backend"] == "native"  # measured faster; docs/guides/images.md
    assert ode["atol"] == ode["rtol"] == 1e-3
    assert config["model"]["lr"] == 1e-3
    assert config["data"]["init_args"]["batch_size"] == setup.batch_size
    assert config["trainer"]["max_epochs"] == setup.epochs
    assert config["data"]["class_path"].endswith(setup.datamodule.__name__)
    assert config["model"]["num_outputs"] == setup.datamodule.num_classes


STANDINS = {
    "mnist": (MNISTDataModule, write_mnist),
    "cifar10": (CIFAR10DataModule, write_cifar10),
    "svhn": (SVHNDataModule, write_svhn),
    "tiny-imagenet": (TinyImageNetDataModule, write_tiny_imagenet_zip),
}


@pytest.mark.parametrize("name", sorted(STANDINS))
@pytest.mark.parametrize("model", ["node", "anode"])
def test_one_training_step_on_each_standin(tmp_path, name, model):
    # Seeded: the weights and stand-in data otherwise depend on what ran before on the
    # xdist worker (it failed once in a full run, passed alone).
    torch.manual_seed(0)
    cls, writer = STANDINS[name]
    root, checksums = writer(tmp_path)
    dm = cls(data_dir=root, checksums=checksums, batch_size=4)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    setup = IMAGE_SETUPS[name]
    p = setup.p(model)
    c, h, w = cls.image_shape
    # The set-up's p with few filters: the paper's filter counts are too slow for a test.
    module = ANODEModule(
        conv_ode(c, 4, augment_dims=p), num_outputs=cls.num_classes, feature_dim=(c + p) * h * w
    )
    optimiser = module.configure_optimizers()
    before = [q.detach().clone() for q in module.parameters()]
    loss = module.training_step((x, y), 0)
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss)
    assert module.ode.nfe.forward > 0 and module.ode.nfe.backward > 0  # adjoint solve ran
    assert all(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_short_digits_run_both_models_learn(tmp_path):
    table = run_image_benchmark(
        "digits", seeds=[0], max_epochs=3, batch_size=64, anode_filters=19, out_dir=str(tmp_path)
    )
    runs = json.loads((table.parent / "runs.json").read_text())["runs"]
    assert {r["model"] for r in runs} == {"node", "anode"}
    node, anode = (next(r for r in runs if r["model"] == m) for m in ("node", "anode"))
    assert abs(node["parameters"] - anode["parameters"]) / anode["parameters"] < 0.01
    for run in runs:
        assert run["test_acc"] > 0.5, run  # chance is 0.1
        assert run["nfe_forward"] > 0 and run["nfe_backward"] > 0
        assert len(run["history"]["loss"]) == len(run["history"]["accuracy"]) == 3 * 23
    text = table.read_text()
    assert "| digits | NODE |" in text and "| digits | ANODE |" in text
    assert (table.parent / "figures.png").stat().st_size > 10_000


def test_anode_images_trains_on_own_idx_files_without_checksums(tmp_path, capsys):
    from anode_plugin.experiments.images import main as images_main

    write_idx_folder(tmp_path / "idx", n_train=32, n_test=16, size=8)
    images_main(
        [
            "--dataset",
            "digits",
            "--data_source",
            "idx",
            "--data_dir",
            str(tmp_path / "idx"),
            "--verify_checksums",
            "false",
            "--seeds",
            "[0]",
            "--models",
            "[anode]",
            "--max_steps",
            "2",
            "--anode_filters",
            "4",
            "--out_dir",
            str(tmp_path / "out"),
        ]
    )
    # Named after its folder, not the set-up: it went to out/digits as "digits".
    runs = json.loads((tmp_path / "out" / "idx" / "runs.json").read_text())
    assert runs["settings"]["data_source"] == "idx" and runs["settings"]["name"] == "idx"
    assert runs["settings"]["verify_checksums"] is False
    (run,) = runs["runs"]
    assert len(run["history"]["loss"]) == 2 and run["nfe_forward"] > 0
    out = capsys.readouterr().out
    assert "| idx | ANODE |" in out
    assert not (tmp_path / "out" / "digits").exists()
    # Progress: a line as the run starts, one per epoch (its loss, the time so far) and
    # one as it ends; a user saw 41 minutes of silence before.
    tag = "[idx] run 1/1: ANODE seed=0: "
    lines = [line.removeprefix(tag) for line in out.splitlines() if line.startswith(tag)]
    assert lines[0] == "training, 10 epoch(s), at most 2 step(s) ..."
    for epoch, line in enumerate(lines[1:3], start=1):
        assert re.fullmatch(
            rf"epoch {epoch}/10 \(step {epoch}/2\), train loss \d\.\d{{4}}, .+ s", line
        )
    assert re.fullmatch(r"test acc .*\(.+ s training, .+ s in all, on cpu\).*", lines[3])
    assert len(lines) == 4


def test_progress_durations_read_at_a_glance():
    assert [format_seconds(s) for s in (0.04, 9.2, 59.4, 192, 3900)] == [
        "0.0 s",
        "9.2 s",
        "59 s",
        "3 min 12 s",
        "1 h 05 min",
    ]


class _Built(BaseException):
    """Raised instead of training: the DataModule the benchmark built, for a look."""


def test_anode_images_reads_a_grayscale_image_folder_as_asked(tmp_path, monkeypatch, capsys):
    from anode_plugin.experiments.images import _benchmark
    from anode_plugin.experiments.images import main as images_main

    # MNIST-like grayscale PNGs in class folders, 8x8 and 10 classes: the digits set-up's.
    folder = tmp_path / "gray"
    for split in ("train", "test"):
        for label in range(10):
            (folder / split / str(label)).mkdir(parents=True)
            pixels = np.full((8, 8), 25 * label, dtype=np.uint8)
            Image.fromarray(pixels, "L").save(folder / split / str(label) / "0.png")
    common = {"data_source": "image_folder", "data_dir": str(folder), "out_dir": str(tmp_path)}
    # Read as RGB (the default), they do not fit the 1-channel models: refused at once.
    with pytest.raises(ValueError, match=r"10 classes of images \[3, 8, 8\]"):
        run_image_benchmark("digits", **common)

    def built(*args, make_datamodule, data_kwargs, **kwargs):
        raise _Built(make_datamodule(seed=0, **data_kwargs))

    monkeypatch.setattr(_benchmark, "run_one", built)
    options = [f"--{key}={value}" for key, value in common.items()]
    with pytest.raises(_Built) as info:
        images_main(["--dataset", "digits", *options, "--channels", "1"])
    dm = info.value.args[0]
    assert dm.channels == 1 and dm.image_shape == (1, 8, 8) and dm.num_classes == 10
    assert "[gray] run 1/6: NODE seed=0: training" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"channels": 1}, r"`channels` applies to data_source='image_folder' only; got "),
        ({"channels": 1, "data_source": "idx"}, r"channels=1 with data_source='idx'"),
        ({"channels": 2, "data_source": "image_folder"}, r"`channels` must be None .*got 2"),
    ],
)
def test_anode_images_channels_are_validated(options, match):
    with pytest.raises(ValueError, match=match):
        ImageBenchmarkConfig(**options)


def test_own_data_in_a_paper_data_sets_format_is_not_shown_as_it(tmp_path):
    # Fashion-MNIST IDX files run with MNIST's models: labelled `mnist`, written to
    # runs/mnist/ and shown beside the paper's MNIST figures before.
    write_idx_folder(tmp_path / "mnist", n_train=10, n_test=10, size=28)  # labels 0..9
    common = {
        "data_source": "idx",
        "data_dir": str(tmp_path / "mnist"),
        "verify_checksums": False,
        "seeds": [0],
        "max_steps": 1,
        "anode_filters": 4,
        "batch_size": 10,
        "reconstruction_samples": 0,
        "out_dir": str(tmp_path / "out"),
    }
    table = run_image_benchmark("mnist", **common)
    assert table == tmp_path / "out" / "mnist-own" / "table.md"  # the folder's name, marked
    rows = [line for line in table.read_text().splitlines() if line.startswith("| mnist-own |")]
    assert len(rows) == 2 and all(row.split(" | ")[6] == "-" for row in rows)  # no Paper (%)
    named = run_image_benchmark("mnist", name="fashion", models=["anode"], **common)
    assert named.parent.name == "fashion" and "| fashion | ANODE |" in named.read_text()
    with pytest.raises(ValueError, match="`name`='mnist' is a data set of the paper"):
        run_image_benchmark("mnist", name="mnist", **common)


def test_own_data_of_the_wrong_shape_is_refused_before_training(tmp_path):
    write_idx_folder(tmp_path, size=28)
    with pytest.raises(ValueError, match=r"--dataset digits trains models for 10 classes of "):
        run_image_benchmark("digits", data_source="idx", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"`data_source` must be None or one of \['idx'"):
        run_image_benchmark("digits", data_source="tensors")
    with pytest.raises(ValueError, match=r"`torchvision_dataset` needs data_source="):
        run_image_benchmark("digits", torchvision_dataset="FashionMNIST")


def test_driver_refuses_unknown_dataset_and_model():
    with pytest.raises(ValueError, match="dataset"):
        run_image_benchmark("imagenet-1k")
    with pytest.raises(ValueError, match="models"):
        run_image_benchmark("digits", models=["resnet"])


@pytest.mark.parametrize("model", ["node", "anode"])
def test_digits_configs_run_through_the_cli(tmp_path, monkeypatch, model):
    monkeypatch.setattr(sys, "argv", ["anode"])
    anode_main(
        [
            "fit",
            "--config",
            str(CONFIGS / f"digits-{model}.yaml"),
            "--trainer.max_steps",
            "2",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.enable_progress_bar",
            "false",
            "--data.init_args.train_subset",
            "64",
            "--data.init_args.batch_size",
            "32",
            # the reference code's backend, as the config's header says
            *(["--model.ode.init_args.backend", "torchdiffeq"] if model == "node" else []),
        ]
    )
    assert (tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    ckpt = torch.load(
        tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt",
        weights_only=False,
    )
    backend = ckpt["hyper_parameters"]["ode"]["init_args"]["backend"]
    assert backend == ("torchdiffeq" if model == "node" else "native")


def test_digits_run_reports_the_reconstruction_check(tmp_path):
    table = run_image_benchmark(
        "digits",
        seeds=[0],
        max_steps=3,
        anode_filters=4,
        reconstruction_samples=16,
        reconstruction_ladder=[1e-3, 1e-5, 1e-7],
        out_dir=str(tmp_path),
    )
    data = json.loads((table.parent / "runs.json").read_text())
    assert data["settings"]["reconstruction"] == {
        "samples": 16,
        "ladder": [1e-3, 1e-5, 1e-7],
        "threshold": 1e-2,
    }
    for run in data["runs"]:
        assert (run["trained_atol"], run["trained_rtol"]) == (1e-3, 1e-3)
        assert run["reconstruction_samples"] == 16
        assert 0 <= run["reconstruction_error_mean"] <= run["reconstruction_error"]
        assert run["loosest_tol"] in (1e-3, 1e-5, 1e-7)
        assert 0 <= run["test_acc_loosest"] <= 1
        if run["loosest_tol"] == 1e-3:
            assert run["test_acc_loosest"] == run["test_acc"]
        assert run["test_nfe_forward_loosest"] >= run["test_nfe_forward"]
    text = table.read_text()
    assert "| Round-trip error | Loosest passing tol | Test accuracy there (%) |" in text
    assert "over the first 16 test images" in text


def test_reconstruction_check_can_be_skipped_and_is_validated(tmp_path):
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    table = run_image_benchmark(
        "digits",
        seeds=[0],
        models=["anode"],
        max_steps=1,
        anode_filters=4,
        reconstruction_samples=0,
        out_dir=str(tmp_path),
    )
    (run,) = json.loads((table.parent / "runs.json").read_text())["runs"]
    assert "loosest_tol" not in run and run["trained_atol"] == 1e-3
    assert "| - | - | - |" in table.read_text()
    assert logger.level == level  # quieted while training only
    with pytest.raises(ValueError, match="`reconstruction_samples` must be"):
        run_image_benchmark("digits", reconstruction_samples=-1)
    with pytest.raises(ValueError, match="`reconstruction_ladder` must be a non-empty"):
        run_image_benchmark("digits", reconstruction_ladder=[1e-5, 1e-3])
    with pytest.raises(ValueError, match="`reconstruction_threshold` must be a positive"):
        run_image_benchmark("digits", reconstruction_threshold=0)


def test_channels_last_changes_the_layout_not_the_values():
    import pickle

    from anode_plugin.lightning._channels_last import ChannelsLast, to_channels_last

    torch.manual_seed(0)
    module = ANODEModule(conv_ode(1, 4, augment_dims=1), num_outputs=3, feature_dim=2 * 36)
    x = torch.rand(5, 1, 6, 6)
    before = module(x)
    handles = to_channels_last(module)
    assert len(handles) == 1
    assert module.ode.vector_field.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    seen = []
    module.ode.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    torch.testing.assert_close(module(x), before, rtol=0, atol=5e-7)  # measured 6e-8
    assert seen[0].is_contiguous(memory_format=torch.channels_last)
    mlp = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    assert to_channels_last(ANODEModule(mlp, num_outputs=2, feature_dim=3)) == []
    assert pickle.loads(pickle.dumps(ChannelsLast())).state_dict() == {}


@pytest.mark.parametrize("dataset", ["cifar10", "svhn"])
def test_the_default_cifar_and_svhn_node_is_the_papers(dataset):
    # It had 124 filters (171,352 parameters); the paper and the reference code use 125.
    setup = IMAGE_SETUPS[dataset]
    assert (setup.filters("node"), setup.num_parameters("node")) == (125, 173_611)
    assert (setup.filters("anode"), setup.num_parameters("anode")) == (64, 172_452)
    matched = dataclasses.replace(setup, node_filters=None)
    assert (matched.filters("node"), matched.num_parameters("node")) == (124, 171_352)


def test_match_node_and_another_anode_rematch_the_node():
    from anode_plugin.experiments.images._setups import resolve_setup

    assert resolve_setup("cifar10").filters("node") == 125
    assert resolve_setup("cifar10", match_node=True).filters("node") == 124
    assert resolve_setup("cifar10", anode_filters=64).filters("node") == 124  # matched again
    assert resolve_setup("mnist", match_node=True).filters("node") == 92


def test_a_run_that_ends_inside_its_first_epoch_reports_every_tenth_of_its_steps(capsys):
    # The MNIST profile trains 600 steps of an epoch of 1,875: its epoch line came last.
    from types import SimpleNamespace

    import torch

    from anode_plugin.experiments.images._progress import EpochProgress

    progress = EpochProgress("[mnist] run 1/4: NODE seed=0")
    trainer = SimpleNamespace(
        max_steps=600, num_training_batches=1875, is_global_zero=True, global_step=0
    )
    for step in range(1, 121):
        trainer.global_step = step
        progress.on_train_batch_end(trainer, None, torch.tensor(2.0), None, step - 1)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", ")[0] for line in lines] == [
        "[mnist] run 1/4: NODE seed=0: step 60/600",
        "[mnist] run 1/4: NODE seed=0: step 120/600",
    ]
    assert all(", train loss 2.0000, " in line for line in lines)
