"""The `anode` command line: fit from YAML, user fields by class_path, resume, DDP."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import lightning_utilities.core.rank_zero as rank_zero_module
import pytest
import torch
import yaml
from torch import nn

from anode_plugin.lightning import ANODEModule
from anode_plugin.lightning._cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


class ReflectionField(nn.Module):
    """A user's own vector field, found by the CLI through its import path."""

    calls = 0

    def __init__(self, dim: int, scale: float = 1.0) -> None:
        super().__init__()
        self.user_layer = nn.Linear(dim, dim)
        self.scale = scale

    def forward(self, t, x):
        type(self).calls += 1
        return self.scale * torch.tanh(self.user_layer(x))


@pytest.fixture(autouse=True)
def _no_pytest_argv(monkeypatch):
    # `main(args)` runs as if from a shell; pytest's own arguments must not leak in.
    monkeypatch.setattr(sys, "argv", ["anode"])


def _config(root: Path, *, epochs: int = 2, field: dict | None = None, **ode) -> dict:
    field = field or {"class_path": "anode_plugin.MLPVectorField", "init_args": {"dim": 3}}
    return {
        "seed_everything": 0,
        "model": {
            "ode": {
                "class_path": "anode_plugin.AugmentedNeuralODE",
                "init_args": {"augment_dims": 1, "vector_field": field, **ode},
            },
            "num_outputs": 2,
            "lr": 0.01,
        },
        "data": {
            "class_path": "anode_plugin.datasets.ConcentricSpheresDataModule",
            "init_args": {
                "num_inner": 32,
                "num_outer": 32,
                "num_val": 32,
                "num_test": 32,
                "labels": "classes",
                "batch_size": 16,
            },
        },
        "trainer": {
            "max_epochs": epochs,
            "default_root_dir": str(root),
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
            "callbacks": [{"class_path": "anode_plugin.lightning.NFECallback"}],
        },
    }


def _write(path: Path, config: dict) -> str:
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _last(root: Path, version: int = 0) -> Path:
    """A run's `last.ckpt`, under its own log folder (Lightning's default)."""
    return root / "lightning_logs" / f"version_{version}" / "checkpoints" / "last.ckpt"


def _rows(root: Path, version: int = 0) -> list[dict[str, str]]:
    with open(root / "lightning_logs" / f"version_{version}" / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def test_fit_from_a_yaml_config(tmp_path):
    config = _write(tmp_path / "config.yaml", _config(tmp_path / "run"))
    main(["fit", "--config", config])
    last = _last(tmp_path / "run")
    assert last.is_file()
    assert not (tmp_path / "run" / "checkpoints").exists()
    rows = _rows(tmp_path / "run")
    assert sum(1 for r in rows if r.get("nfe/forward")) == 8  # 2 epochs of 4 steps
    assert sum(1 for r in rows if r.get("val/acc")) == 2
    assert sum(1 for r in rows if r.get("train/loss")) == 8
    # A CLI checkpoint rebuilds its model from the saved config alone.
    model = ANODEModule.load_from_checkpoint(last)
    state = torch.load(last, weights_only=False)["state_dict"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_a_user_vector_field_named_by_class_path(tmp_path):
    field = {"class_path": f"{__name__}.ReflectionField", "init_args": {"dim": 3, "scale": 0.5}}
    config = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1, field=field))
    ReflectionField.calls = 0
    main(["fit", "--config", config])
    assert ReflectionField.calls > 0
    state = torch.load(_last(tmp_path / "run"), weights_only=False)
    assert any(key.endswith("user_layer.weight") for key in state["state_dict"])
    assert state["hyper_parameters"]["ode"]["init_args"]["vector_field"]["class_path"] == (
        f"{__name__}.ReflectionField"
    )


def test_validate_and_test_subcommands(tmp_path):
    config = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1))
    main(["fit", "--config", config])
    main(["validate", "--config", config, "--ckpt_path", "last"])
    main(["test", "--config", config, "--ckpt_path", "last"])
    validated, tested = _rows(tmp_path / "run", 1), _rows(tmp_path / "run", 2)
    assert {"val/loss", "val/acc", "val/nfe/forward"} <= set(validated[0])
    assert {"test/loss", "test/acc", "test/nfe/forward"} <= set(tested[0])
    assert 0.0 <= float(tested[0]["test/acc"]) <= 1.0


def test_bad_model_options_fail_before_training(tmp_path, capsys):
    config = _config(tmp_path / "run")
    config["model"]["task"] = "segmentation"
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", _write(tmp_path / "config.yaml", config)])
    assert stop.value.code == 2 and "`task` must be one of" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--model.lr", "-1"], "anode: error: `lr` must be a positive finite number, got -1.0."),
        (
            ["--model.ode.init_args.solver", "dopri55"],
            "anode: error: `solver` must be one of [",
        ),
    ],
)
def test_the_cli_prints_its_own_message_in_a_few_lines(tmp_path, capsys, options, message):
    # It printed 72-92 lines: jsonargparse's traceback and a dump of the whole config.
    path = _write(tmp_path / "config.yaml", _config(tmp_path / "run"))
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", path, *options])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and err[0].startswith(message)
    assert len(err) == 2 and "ANODE_TRACEBACK=1" in err[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for a GPU where there is none")
def test_a_gpu_on_a_machine_without_one_says_to_use_the_cpu(tmp_path, capsys):
    path = _write(tmp_path / "config.yaml", _config(tmp_path / "run"))
    with pytest.raises(SystemExit):
        main(["fit", "--config", path, "--trainer.accelerator", "gpu"])
    err = capsys.readouterr().err
    assert err.startswith("anode: error: the trainer was asked for a GPU")
    assert "PyTorch finds none on this machine" in err and "--trainer.accelerator cpu" in err


def test_resuming_from_last_with_nothing_to_resume_says_so(tmp_path, recwarn):
    path = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1))
    # Lightning started afresh under its hint to set `save_last=True`, which is set.
    with pytest.warns(UserWarning, match="no `last` checkpoint of an earlier run under"):
        main(["fit", "--config", path, "--ckpt_path", "last"])
    assert not any("HINT: Set `ModelCheckpoint" in str(w.message) for w in recwarn)
    assert _last(tmp_path / "run", version=0).exists()  # it trained from scratch


def test_resume_equals_an_uninterrupted_run(tmp_path):
    interrupted = _write(tmp_path / "a.yaml", _config(tmp_path / "a", epochs=2))
    main(["fit", "--config", interrupted])
    main(["fit", "--config", interrupted, "--trainer.max_epochs", "4", "--ckpt_path", "last"])
    straight = _write(tmp_path / "b.yaml", _config(tmp_path / "b", epochs=4))
    main(["fit", "--config", straight])

    a = torch.load(_last(tmp_path / "a", version=1), weights_only=False)
    b = torch.load(_last(tmp_path / "b"), weights_only=False)
    assert a["epoch"] == b["epoch"] == 3 and a["global_step"] == b["global_step"] == 16
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    # The NFE history went on across the resume: one record per step, all 16.
    (history_a,) = (v["history"] for k, v in a["callbacks"].items() if "NFECallback" in k)
    (history_b,) = (v["history"] for k, v in b["callbacks"].items() if "NFECallback" in k)
    assert [r["global_step"] for r in history_a] == list(range(1, 17))
    assert history_a == history_b


def test_ddp_on_two_cpu_processes_logs_nfe_once_per_step(tmp_path):
    # rk4 over two steps makes exactly 8 forward evaluations per solve on each process:
    # a mean over the processes is 8, a sum would be 16.
    config = _config(tmp_path / "run", solver="rk4", t_span=[0.0, 0.5, 1.0])
    # 128 training points, 64 per process: 4 steps of 16.
    config["data"]["init_args"].update(num_inner=64, num_outer=64)
    command = [
        sys.executable,
        "-m",
        "anode_plugin.lightning._cli",
        "fit",
        "--config",
        _write(tmp_path / "config.yaml", config),
        "--trainer.strategy",
        "ddp",
        "--trainer.devices",
        "2",
        "--trainer.accelerator",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _rows(tmp_path / "run")
    steps = [int(r["step"]) for r in rows if r.get("nfe/forward")]
    assert steps == list(range(8))  # 2 epochs x 4 steps, each logged once
    assert {float(r["nfe/forward"]) for r in rows if r.get("nfe/forward")} == {8.0}
    assert [float(r["val/nfe/forward"]) for r in rows if r.get("val/nfe/forward")] == [8.0, 8.0]
    last = torch.load(_last(tmp_path / "run"), weights_only=False)
    (history,) = (v["history"] for k, v in last["callbacks"].items() if "NFECallback" in k)
    assert [(r["global_step"], r["nfe_forward"]) for r in history] == [
        (i, 8.0) for i in range(1, 9)
    ]


def test_example_configs_run(tmp_path):
    configs = sorted(EXAMPLES.glob("*.yaml"))
    assert len(configs) >= 2
    for config in configs:
        main(
            [
                "fit",
                "--config",
                str(config),
                "--trainer.fast_dev_run",
                "2",
                "--trainer.default_root_dir",
                str(tmp_path / config.stem),
                "--trainer.enable_progress_bar",
                "false",
            ]
        )


def test_the_console_script_is_installed():
    (script,) = entry_points(group="console_scripts", name="anode")
    assert script.load() is main


def test_a_smoke_run_neither_writes_nor_hijacks_last(tmp_path, monkeypatch):
    # The sequence a new user ran: a real run, a smoke test, then a resume. The smoke
    # test's `last-v1.ckpt` used to be newer, so the resume restored its weights.
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path / "run", epochs=3)
    del config["trainer"]["default_root_dir"]  # the CLI's defaults, in the working directory
    path = _write(tmp_path / "config.yaml", config)
    main(["fit", "--config", path])
    main(["fit", "--config", path, "--trainer.fast_dev_run", "true"])
    main(["fit", "--config", path, "--trainer.max_epochs", "4", "--ckpt_path", "last"])

    everything = [p.relative_to(tmp_path) for p in tmp_path.rglob("*.ckpt")]
    assert all(p.parts[0] == "lightning_logs" for p in everything), everything
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("last*.ckpt"))
    logs = Path("lightning_logs")
    assert written == [
        logs / "version_0" / "checkpoints" / "last.ckpt",
        logs / "version_1" / "checkpoints" / "last.ckpt",
    ]
    resumed = torch.load(written[-1], weights_only=False)
    assert resumed["epoch"] == 3 and resumed["global_step"] == 16  # 4 epochs of 4 steps
    assert not (tmp_path / "checkpoints").exists()


def test_resuming_says_which_last_checkpoint_it_took(tmp_path, caplog):
    path = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1))
    main(["fit", "--config", path])
    main(["fit", "--config", path, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    # Lightning's info messages, whatever level another test left on its loggers.
    with caplog.at_level("INFO", logger=rank_zero_module.log.name):
        main(["fit", "--config", path, "--trainer.max_epochs", "3", "--ckpt_path", "last"])
    newest, older = _last(tmp_path / "run", version=1), _last(tmp_path / "run", version=0)
    messages = [r.getMessage() for r in caplog.records if "--ckpt_path last" in r.getMessage()]
    message = messages[-1]
    assert f"resuming from {newest.resolve()}, the newest of 2" in message
    assert str(older.resolve()) in message
    assert torch.load(_last(tmp_path / "run", version=2), weights_only=False)["epoch"] == 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (  # a smoke run neither resumes nor writes
            ["fit", "--trainer.fast_dev_run", "true"],
            r"`--ckpt_path last` with `--trainer.fast_dev_run`:"
            r" a smoke run neither resumes from nor writes",
        ),
        (  # nothing to evaluate: fit would start from scratch, validate cannot
            ["validate"],
            r"`--ckpt_path last`: no `last` checkpoint of an"
            r" earlier run under .* `validate` has no weights",
        ),
    ],
)
def test_ckpt_path_last_is_refused_where_it_cannot_be_taken(tmp_path, capsys, options, match):
    path = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1))
    subcommand, *rest = options
    with pytest.raises(SystemExit) as stop:
        main([subcommand, "--config", path, *rest, "--ckpt_path", "last"])
    assert stop.value.code == 2 and re.match(f"anode: error: {match}", capsys.readouterr().err)


def decay(t, x):
    """A plain function as a vector field, without a return annotation."""
    return -x


def test_a_plain_function_as_the_vector_field_of_a_config(tmp_path):
    # It used to be rejected: jsonargparse wanted a `-> Tensor` annotation.
    field = f"{__name__}.decay"
    config = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1, field=field))
    main(["fit", "--config", config])
    state = torch.load(_last(tmp_path / "run"), weights_only=False)
    assert state["hyper_parameters"]["ode"]["init_args"]["vector_field"] == field


def test_fit_on_a_full_disk_leaves_no_unloadable_checkpoint(tmp_path, monkeypatch):
    # The disk fills after the first checkpoint: the run stops with the package's error,
    # and every checkpoint file left behind loads (Lightning's own writer left a
    # truncated one on a 200 KB file system).
    from anode_plugin.lightning import CheckpointError, _checkpoint_io

    real_save, writes = torch.save, []

    def save(obj, path, *args, **kwargs):
        writes.append(path)
        if len(writes) == 1:
            return real_save(obj, path, *args, **kwargs)
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(_checkpoint_io.torch, "save", save)
    config = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=3))
    monkeypatch.setenv("ANODE_TRACEBACK", "1")  # the error itself, not its short form
    with pytest.raises(CheckpointError, match="Could not write the checkpoint"):
        main(["fit", "--config", config])
    left = sorted((tmp_path / "run").rglob("*.ckpt"))
    assert left and len(writes) >= 2
    for path in left:
        torch.load(path, weights_only=False)  # every file left is a whole checkpoint
    assert not list((tmp_path / "run").rglob("*.partial*"))


def test_the_cli_answers_a_users_file_mistakes_in_two_lines(tmp_path, capsys):
    config = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x7fELF\x02\xff")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cases = [
        (
            ["fit", "--config", str(binary)],
            f"anode: error: the configuration file {str(binary)!r} is not text (UTF-8): byte "
            "b'\\xff' at position 5. A configuration is a YAML or JSON text file.",
        ),
        (
            ["fit", "--config", config, "--ckpt_path", str(tmp_path / "none.ckpt")],
            f"anode: error: Checkpoint file not found: {tmp_path / 'none.ckpt'}",
        ),
        (  # checked once the model is built, before training
            ["fit", "--config", config, "--trainer.default_root_dir", str(blocker / "run")],
            f"anode: error: `--trainer.default_root_dir` {str(blocker / 'run')!r} cannot be "
            "written (a file is in the way: it must be a folder); nothing was trained.",
        ),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and err[-2].startswith(message), err
        assert err[-1] == "(ANODE_TRACEBACK=1 shows the whole traceback.)"
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing trained


def test_a_nan_learning_rate_is_not_called_a_non_float(tmp_path, capsys):
    path = _write(tmp_path / "config.yaml", _config(tmp_path / "run"))
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", path, "--model.lr", "nan"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Expected a <class 'float'>. Got value: nan" in err
    assert "('nan' is not a finite number: every numeric option takes a finite value.)" in err


def test_a_full_disk_leaves_no_empty_hparams_yaml(tmp_path, monkeypatch, capsys):
    # Lightning opens hparams.yaml with "w": a resume with 4 KB free left it empty.
    from anode_plugin.lightning import _atomic_logger

    config = _write(tmp_path / "config.yaml", _config(tmp_path / "run", epochs=1))
    main(["fit", "--config", config])
    (first,) = (tmp_path / "run").rglob("hparams.yaml")
    assert yaml.safe_load(first.read_text())  # written whole by the CLI's logger

    def full(path, hparams, *args, **kwargs):
        open(path, "w").close()  # opened, truncated, then nothing fits
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(_atomic_logger, "save_hparams_to_yaml", full)
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", config, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert stop.value.code == 2
    assert "anode: error: [Errno 28] No space left on device" in capsys.readouterr().err
    written = list((tmp_path / "run").rglob("*.yaml"))
    assert all(yaml.safe_load(path.read_text()) for path in written), written
    assert not list((tmp_path / "run").rglob("*.partial*"))
