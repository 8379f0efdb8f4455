"""The package's layering, the deprecated import paths, and the one toy DataModule family."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import anode_plugin
from anode_plugin.datasets import (
    ConcentricSpheresDataModule,
    G1dDataModule,
    ReflectionDataModule,
    ShiftedSinesDataModule,
    SpheresGeneralisationDataModule,
    ToyDataModule,
)


def test_importing_the_core_does_not_import_lightning_or_the_reproduction():
    # (torchdyn itself imports `pytorch_lightning`; the package `lightning` is ours to avoid.)
    code = (
        "import sys, anode_plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lightning' "
        "or m.startswith(('anode_plugin.lightning', 'anode_plugin.experiments'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("ANODEModule", "anode_plugin.lightning"),
        ("NFECallback", "anode_plugin.lightning"),
        ("NFEBudget", "anode_plugin.lightning"),
        ("ResNet", "anode_plugin.experiments"),
        ("conv_ode", "anode_plugin.experiments"),
        ("count_image_parameters", "anode_plugin.experiments"),
        ("match_num_filters", "anode_plugin.experiments"),
        ("match_resnet_hidden_dim", "anode_plugin.experiments"),
    ],
)
def test_names_moved_off_the_root_say_where_they_went(name, home):
    # No release had them at the root: no alias is kept (an alias would be what
    # jsonargparse writes into saved configs), the error names the new home.
    assert name not in anode_plugin.__all__
    assert not hasattr(anode_plugin, name)
    with pytest.raises(AttributeError, match=rf"no attribute '{name}': it moved to `{home}`"):
        getattr(anode_plugin, name)
    assert getattr(importlib.import_module(home), name) is not None


def test_saved_configs_name_the_new_import_paths():
    from jsonargparse._util import get_import_path

    from anode_plugin.experiments import ResNet
    from anode_plugin.lightning import ANODEModule, NFECallback

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = [get_import_path(cls) for cls in (ANODEModule, NFECallback, ResNet)]
    assert paths == [
        "anode_plugin.lightning.ANODEModule",
        "anode_plugin.lightning.NFECallback",
        "anode_plugin.experiments.ResNet",
    ]


def test_an_old_config_naming_a_moved_class_says_where_it_went():
    from jsonargparse._util import import_object

    with pytest.raises(AttributeError, match=r"it moved to `anode_plugin\.lightning`"):
        import_object("anode_plugin.NFECallback")


def test_an_unknown_root_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'conv_odes'"):
        anode_plugin.conv_odes  # noqa: B018


@pytest.mark.parametrize("module", ["anode_plugin.callbacks", "anode_plugin.benchmarks_images"])
def test_the_removed_module_paths_are_gone(module):
    # Deprecated before any release and removed (CHANGELOG): the callbacks are in
    # anode_plugin.lightning, the image benchmark's command line is anode-images.
    sys.modules.pop(module, None)
    with pytest.raises(ModuleNotFoundError, match=module):
        importlib.import_module(module)


def test_the_removed_toy_datamodule_names_are_gone():
    import anode_plugin.lightning as lightning

    for name in ("ToyClassificationDataModule", "ToyRegressionDataModule"):
        assert not hasattr(lightning, name)


def test_labels_are_signed_or_class_indices_for_every_classification_set():
    for build in (
        lambda labels: ConcentricSpheresDataModule(num_inner=5, num_outer=7, labels=labels),
        lambda labels: ShiftedSinesDataModule(num_upper=6, num_lower=4, labels=labels),
        lambda labels: SpheresGeneralisationDataModule(num_inner=20, num_outer=40, labels=labels),
    ):
        signed, classes = build("signed"), build("classes")
        assert torch.equal(signed.x, classes.x)
        assert signed.y.shape == (len(signed.x), 1) and classes.y.shape == (len(classes.x),)
        assert torch.equal(classes.y, (signed.y[:, 0] > 0).long())
    with pytest.raises(ValueError, match=r"`labels` must be one of \['signed', 'classes'\]"):
        ConcentricSpheresDataModule(labels="onehot")


def test_held_out_splits_never_change_the_training_split():
    plain = ConcentricSpheresDataModule(num_inner=30, num_outer=90, seed=4)
    split = ConcentricSpheresDataModule(num_inner=30, num_outer=90, num_val=20, num_test=8, seed=4)
    assert torch.equal(plain.x, split.x) and torch.equal(plain.y, split.y)
    assert plain.val_dataloader() == [] and plain.test_dataloader() == []
    # The held-out split keeps the training split's 1:3 proportion of the classes.
    assert split.y_val.eq(-1).sum() == 5 and len(split.x_test) == 8
    assert not any(torch.equal(row, other) for row in split.x_val for other in split.x)
    g1d = G1dDataModule(num_points=16, num_val=8, seed=2)
    assert torch.equal(g1d.x, G1dDataModule(num_points=16, seed=2).x)
    assert torch.equal(g1d.y_val, -g1d.x_val)


def _order(data: ToyDataModule, epoch: int, *, replicas: int = 1, rank: int = 0) -> list[int]:
    loader = data.train_dataloader()
    sampler = loader.sampler
    sampler.num_replicas, sampler.rank = replicas, rank
    sampler.total_size = -(-len(sampler.dataset) // replicas) * replicas
    sampler.num_samples = sampler.total_size // replicas
    sampler.set_epoch(epoch)
    return list(iter(sampler))


@pytest.mark.parametrize(("num_points", "batch_size"), [(23, 5), (24, 6)])
def test_the_training_order_is_the_seeded_shuffle_the_experiments_always_used(
    num_points, batch_size
):
    # What the experiments' DataLoader(shuffle=True, generator=manual_seed(seed)) gave,
    # read as Lightning reads a sized loader: len(loader) batches per epoch, so that the
    # sampler runs dry (and draws its trailing permutation) only after a partial batch.
    data = G1dDataModule(num_points=num_points, batch_size=batch_size, seed=7)
    x = torch.arange(float(num_points)).unsqueeze(1)
    reference = DataLoader(
        TensorDataset(x),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(7),
    )
    for epoch in range(4):
        batches = itertools.islice(iter(reference), len(reference))
        expected = [int(i) for (batch,) in batches for i in batch[:, 0]]
        assert _order(data, epoch) == expected


def test_the_training_order_depends_on_the_epoch_only_and_is_sharded_across_processes():
    data = ReflectionDataModule(num_train=11, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        orders = [_order(data, epoch) for epoch in range(3)]
    assert orders[2] == _order(data, 2), "a resumed run sees the same epoch"
    assert len({tuple(order) for order in orders}) == 3
    shards = [_order(data, 1, replicas=3, rank=rank) for rank in range(3)]
    assert all(len(shard) == 4 for shard in shards)
    assert sorted({i for shard in shards for i in shard}) == list(range(11))


def test_in_memory_tensors_are_checked():
    with pytest.raises(ValueError, match=r"`x_val` and `y_val` must be given together"):
        ToyDataModule(torch.zeros(4, 2), torch.zeros(4, 1), x_val=torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"`x_test` and `y_test` must be \[n, d\]"):
        ToyDataModule(
            torch.zeros(4, 2), torch.zeros(4), x_test=torch.zeros(3, 2), y_test=torch.zeros(2)
        )


# ---------------------------------------------------------------------------- tests mirror
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: Test files named for a behaviour that spans modules, not for one module: contracts,
#: properties, the docs and the layout itself. Every other test file mirrors a module.
CROSS_CUTTING = {
    "test_adjoint_vs_autograd.py",
    "test_benchmarks.py",
    "test_examples.py",
    "test_flow_properties.py",
    "test_fuzz.py",
    "test_gpu_steps.py",
    "test_imports.py",
    "test_layout.py",
    "test_package_layout.py",
    "test_public_api.py",
    "test_state_dict.py",
    "test_torchdyn_contract.py",
    "test_troubleshooting.py",
    "solve/test_adjoint_choice.py",
    "solve/test_seminorm.py",
    "solve/test_solve_validation.py",
    "solve/test_steps.py",
    "testing/test_testing.py",
}


def _mutation_module():
    spec = importlib.util.spec_from_file_location("mutation", ROOT / "benchmarks" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mirrored_module(test_file: Path) -> list[Path]:
    """The package modules a test file's name and folder can mirror (a folder or a module
    of either spelling: with or without its leading underscore)."""
    relative = test_file.relative_to(TESTS)
    name = relative.stem.removeprefix("test_")
    candidates = [ROOT / "anode_plugin"]
    for folder in relative.parts[:-1]:
        candidates = [c / f for c in candidates for f in (folder, f"_{folder}")]
    return [c / f"{prefix}{name}.py" for c in candidates for prefix in ("_", "")] + [
        c / f"_{name}" / "__init__.py" for c in candidates
    ]


def test_every_test_file_mirrors_a_module_or_says_what_it_spans():
    strays = []
    for test_file in sorted(TESTS.rglob("test_*.py")):
        relative = test_file.relative_to(TESTS).as_posix()
        if relative in CROSS_CUTTING or relative.startswith("experiments/"):
            continue
        if not any(path.is_file() for path in _mirrored_module(test_file)):
            strays.append(relative)
    assert not strays, f"test files that mirror no module and are not CROSS_CUTTING: {strays}"
    assert all((TESTS / name).is_file() for name in CROSS_CUTTING)


def test_each_measured_module_has_the_test_file_its_name_gives():
    mutation = _mutation_module()
    assert mutation.own_tests("anode_plugin/_cnf/_trace.py") == "tests/cnf/test_trace.py"
    assert mutation.own_tests("anode_plugin/solve/_native/_loop.py") == (
        "tests/solve/native/test_loop.py"
    )
    assert mutation.own_tests("anode_plugin/_nfe.py") == "tests/test_nfe.py"
    missing = [m for m in mutation.MODULES if not (ROOT / mutation.own_tests(m)).is_file()]
    assert not missing
    with pytest.raises(ValueError, match="`module` must be a file of anode_plugin/"):
        mutation.own_tests("tests/test_nfe.py")
