"""The three commands answer a user's mistake in one short form (``_command_line``)."""

from __future__ import annotations

import errno
import json
import os
import sys

import pytest

from anode_plugin import _command_line
from anode_plugin._command_line import (
    OutputFolderError,
    check_output_folder,
    explain_parser_error,
    user_error_message,
)
from anode_plugin.experiments import main as experiments_main
from anode_plugin.experiments.images import _cli as images_cli
from anode_plugin.experiments.toy import _command as toy_command

_HINT = "(ANODE_TRACEBACK=1 shows the whole traceback.)"


@pytest.fixture(autouse=True)
def _as_from_a_shell(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog"])  # pytest's own arguments must not leak in
    monkeypatch.delenv("ANODE_TRACEBACK", raising=False)


def _short_answer(capsys, command, argv) -> str:
    """Run ``command(argv)``; check the short form and return the message line."""
    with pytest.raises(SystemExit) as stop:
        command(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2
    assert len(err) == 2 and err[1] == _HINT, err
    return err[0]


@pytest.fixture
def files(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\x9f\xff")
    truncated = tmp_path / "results.json"
    truncated.write_text('{"experiment": "toy", "experiments": {"g1d": {"mod')
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return {
        "binary": str(binary),
        "truncated": str(truncated),
        "unwritable": str(blocker / "out"),  # under a file: no one can create it
        "tmp": tmp_path,
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--anode_filters", "0"], "`anode_filters` must be a positive integer, got 0."),
        (["--augment_dims", "-2"], "`augment_dims` must be a positive integer, got -2."),
        (
            ["--data_source", "torchvision"],
            "`torchvision_dataset` must name a torchvision data set class with "
            "data_source='torchvision' (e.g. 'FashionMNIST'), got None.",
        ),
        (
            ["--torchvision_dataset", "MNIST"],
            "`torchvision_dataset` needs data_source='torchvision'; got "
            "torchvision_dataset='MNIST' with data_source=None.",
        ),
        (["--max_epochs", "-1"], "`max_epochs` must be a positive integer, got -1."),
        (["--batch_size", "0"], "`batch_size` must be a positive integer, got 0."),
        (["--seeds", "[0, 0]"], "`seeds` must be distinct, got [0, 0]."),
        (["--dataset", "nope"], "`dataset` must be one of ['digits', 'mnist', "),
    ],
)
def test_anode_images_answers_a_bad_option_in_two_lines(capsys, files, argv, message):
    out = ["--out_dir", str(files["tmp"] / "runs")]
    line = _short_answer(capsys, images_cli.main, [*argv, *out])
    assert line.startswith(f"anode-images: error: {message}")
    assert not (files["tmp"] / "runs").exists()  # refused before anything was written


def test_a_binary_configuration_file_is_named(capsys, files):
    line = _short_answer(capsys, images_cli.main, ["--config", files["binary"]])
    assert line == (
        f"anode-images: error: the configuration file {files['binary']!r} is not text "
        "(UTF-8): byte b'\\xff' at position 10. A configuration is a YAML or JSON text file."
    )


def test_the_output_folder_is_checked_before_any_training(capsys, files, monkeypatch):
    # `anode-experiments g1d` into an unwritable folder trained every run first.
    def never(*args, **kwargs):
        raise AssertionError("trained before the output folder was checked")

    monkeypatch.setattr(toy_command, "run_experiment", never)
    monkeypatch.setattr(images_cli, "run_benchmark", never)
    folder = files["unwritable"]
    line = _short_answer(capsys, experiments_main, ["g1d", "--output_dir", folder])
    assert line.startswith(f"anode-experiments: error: `--output_dir` {folder!r} cannot be written")
    assert line.endswith(
        "nothing was trained. Give a folder on a disk with free space that you can write to."
    )
    line = _short_answer(capsys, images_cli.main, ["--out_dir", folder])
    assert line.startswith(f"anode-images: error: `--out_dir` {folder!r} cannot be written")


def test_a_truncated_or_foreign_results_file_is_named(capsys, files, tmp_path):
    line = _short_answer(capsys, experiments_main, ["report", files["truncated"]])
    assert line.startswith(
        f"anode-experiments: error: `results` {files['truncated']!r} cannot be read: the file "
        "is truncated ("
    )
    line = _short_answer(capsys, experiments_main, ["report", files["binary"]])
    assert f"`results` {files['binary']!r} cannot be read: the file is not JSON" in line
    foreign = tmp_path / "list.json"
    foreign.write_text(json.dumps([1, 2]))
    line = _short_answer(capsys, experiments_main, ["report", str(foreign)])
    assert "is JSON but not an experiment's results" in line
    missing = str(tmp_path / "none.json")
    line = _short_answer(capsys, experiments_main, ["report", missing])
    assert line == f"anode-experiments: error: [Errno 2] No such file or directory: {missing!r}"


def test_the_traceback_comes_on_request(files, monkeypatch):
    monkeypatch.setenv("ANODE_TRACEBACK", "1")
    with pytest.raises(ValueError, match=r"^`anode_filters` must be a positive integer"):
        images_cli.main(["--anode_filters", "0", "--out_dir", str(files["tmp"] / "runs")])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_a_non_finite_number_is_not_called_a_non_float(capsys, value):
    # jsonargparse said "Expected a float. Got value: nan", as if nan were not a float.
    with pytest.raises(SystemExit) as stop:
        experiments_main(["g1d", f"--lr={value}"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert f"({value!r} is not a finite number: every numeric option takes a finite value.)" in err


def test_explain_parser_error_leaves_other_messages_alone():
    assert explain_parser_error("Expected a <class 'float'>. Got value: abc") == (
        "Expected a <class 'float'>. Got value: abc"
    )
    assert explain_parser_error(
        "Parser key \"tol\":\n  Expected a <class 'float'>. Got value: inf"
    ).endswith("('inf' is not a finite number: every numeric option takes a finite value.)")


def test_check_output_folder_creates_and_leaves_nothing(tmp_path):
    folder = tmp_path / "a" / "b"
    assert check_output_folder(folder, option="--out") == folder
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_a_full_disk_is_found_by_the_probe(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_command_line.os, "fsync", full)
    with pytest.raises(OutputFolderError) as info:
        check_output_folder(tmp_path, option="--output_dir")
    assert str(info.value) == (
        f"`--output_dir` {str(tmp_path)!r} cannot be written (No space left on device); "
        "nothing was trained. Give a folder on a disk with free space that you can write to."
    )
    assert info.value.errno == errno.ENOSPC and list(tmp_path.iterdir()) == []


def test_errors_that_are_not_a_users_mistake_keep_their_traceback():
    def raised_here():
        raise ValueError("a bug in a user's code, not the package's")

    with pytest.raises(ValueError) as info:
        raised_here()
    assert user_error_message(info.value) is None
    assert user_error_message(RuntimeError("solver failed")) is None
    assert user_error_message(OSError(errno.ENOSPC, "No space left on device")) == (
        "[Errno 28] No space left on device"
    )


def test_a_failed_operation_in_the_package_is_a_bug_not_a_users_mistake():
    # `Path(None)` fails on a package line that is no `raise`: a bug keeps its traceback.
    with pytest.raises(TypeError) as info:
        check_output_folder(None, option="--out")
    assert user_error_message(info.value) is None


def test_anode_traceback_0_keeps_the_short_form(capsys, files, monkeypatch):
    monkeypatch.setenv("ANODE_TRACEBACK", "0")
    line = _short_answer(
        capsys, images_cli.main, ["--anode_filters", "0", "--out_dir", str(files["tmp"] / "o")]
    )
    assert line.startswith("anode-images: error: `anode_filters` must be a positive integer")


def test_a_remote_folder_is_left_to_its_file_system(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_output_folder("s3://bucket/run", option="--out")
    assert list(tmp_path.iterdir()) == []  # no local ./s3:/bucket/run


def test_a_file_system_that_cannot_fsync_is_still_writable(tmp_path, monkeypatch):
    def unsupported(fd):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(_command_line.os, "fsync", unsupported)
    assert check_output_folder(tmp_path / "out", option="--out").is_dir()
