"""Checkpoints written whole or not at all, and unreadable ones named clearly."""

from __future__ import annotations

import errno

import pytest
import torch

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.lightning import ANODEModule, AtomicCheckpointIO, CheckpointError, _checkpoint_io


def _full_disk_after(monkeypatch, good_writes: int) -> None:
    """``torch.save`` as on a disk that fills up: after ``good_writes`` whole files, each
    write leaves part of its bytes and fails with ENOSPC."""
    real_save, writes = torch.save, []

    def save(obj, path, *args, **kwargs):
        writes.append(path)
        if len(writes) <= good_writes:
            return real_save(obj, path, *args, **kwargs)
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_checkpoint_io.torch, "save", save)


def test_a_full_disk_leaves_the_earlier_checkpoints_and_no_partial_one(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    first, second = tmp_path / "ckpt" / "epoch=0.ckpt", tmp_path / "ckpt" / "epoch=1.ckpt"
    _full_disk_after(monkeypatch, good_writes=1)
    io.save_checkpoint({"step": 1}, first)
    with pytest.raises(CheckpointError, match=r"Could not write the checkpoint .*epoch=1\.ckpt: "):
        io.save_checkpoint({"step": 2}, second)
    with pytest.raises(OSError, match="No space left on device"):  # still an OSError
        io.save_checkpoint({"step": 3}, first)  # overwriting keeps the old file whole
    assert sorted(p.name for p in first.parent.iterdir()) == ["epoch=0.ckpt"]
    assert io.load_checkpoint(first) == {"step": 1}


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "empty"),
        (b"\x80\x02random bytes" * 3, "bytes, not a whole PyTorch zip archive"),
        (b"a text file\n", "bytes, not a whole PyTorch zip archive"),
        ("truncated", "bytes, not a whole PyTorch zip archive"),
    ],
)
def test_an_unreadable_checkpoint_names_the_file(tmp_path, content, what):
    path = tmp_path / "broken.ckpt"
    if content == "truncated":
        whole = tmp_path / "whole.ckpt"
        torch.save({"state_dict": {"w": torch.randn(1000)}}, whole)
        content = whole.read_bytes()[: whole.stat().st_size // 2]
    path.write_bytes(content)
    expected = (
        rf"The checkpoint {path} cannot be read: it is truncated or not a checkpoint \(.*{what}"
    )
    with pytest.raises(CheckpointError, match=expected):
        AtomicCheckpointIO().load_checkpoint(path)
    ode = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    with pytest.raises(CheckpointError, match=expected):
        ANODEModule.load_from_checkpoint(path, ode=ode)


def test_a_whole_checkpoint_and_a_missing_one_keep_their_own_answers(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "good.ckpt"
    io.save_checkpoint({"w": torch.ones(2)}, path)
    assert torch.equal(io.load_checkpoint(path)["w"], torch.ones(2))
    with pytest.raises(FileNotFoundError):
        io.load_checkpoint(tmp_path / "missing.ckpt")


def _python_built_checkpoint(tmp_path):
    """An ANODEModule built in Python (its block is no hyperparameter), and its checkpoint."""
    import lightning.pytorch as pl

    ode = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    module = ANODEModule(ode, num_outputs=2, feature_dim=3)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, max_epochs=0)
    trainer.strategy.connect(module)
    path = tmp_path / "python.ckpt"
    trainer.save_checkpoint(path)
    return module, path


def test_reloading_a_python_built_module_without_its_block_says_how(tmp_path):
    # Python said only "__init__() missing 1 required positional argument: 'ode'".
    module, path = _python_built_checkpoint(tmp_path)
    with pytest.raises(TypeError) as info:
        ANODEModule.load_from_checkpoint(path)
    assert str(info.value) == (
        f"The checkpoint {path} holds no `ode`: the ANODEModule that saved it was built in "
        "Python, and its `ode` (a module, not a hyperparameter) is saved as weights only. "
        "Build it again and pass it: ANODEModule.load_from_checkpoint(path, ode=...); the "
        "weights fill it. (Checkpoints of the `anode` command rebuild it from their config.)"
    )
    again = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    reloaded = ANODEModule.load_from_checkpoint(path, ode=again)
    assert torch.equal(reloaded.head.weight, module.head.weight)


def test_a_missing_argument_of_another_call_is_not_blamed_on_the_checkpoint(tmp_path):
    def needs(value):
        return value

    class Needy(ANODEModule):
        def __init__(self, ode, **kwargs):
            super().__init__(ode, **kwargs)
            needs()  # a TypeError about `value`, raised inside __init__, not about `ode`

    _, path = _python_built_checkpoint(tmp_path)
    again = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    with pytest.raises(TypeError, match=r"^.*needs\(\) missing 1 required positional argument"):
        Needy.load_from_checkpoint(path, ode=again)
