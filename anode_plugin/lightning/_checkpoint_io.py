"""Checkpoints written whole or not at all, and read with errors that name the file.

Lightning 2.6 writes a local checkpoint through an fsspec transaction whose temporary
file lives in the system's temporary folder: on a full disk the move onto the target
leaves a truncated or empty checkpoint (measured on a 200 KB file system: an 80 KB
unloadable ``.ckpt`` and an empty one beside the good ones). Here the checkpoint is
written beside its target and renamed onto it, so a failed write leaves the previous
files as they were and no partial one.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override

from .._atomic import atomic_path

__all__ = ["AtomicCheckpointIO", "CheckpointError", "ReadableCheckpoints"]


class CheckpointError(OSError):
    """A checkpoint could not be written (the disk is full, the folder unwritable) or
    read (the file is truncated, empty or not a checkpoint). An ``OSError``: ``except
    OSError`` keeps catching it."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO``, with atomic local writes and clear read errors.

    ``anode fit`` uses it; give it to a ``Trainer`` of your own with
    ``pl.Trainer(plugins=[AtomicCheckpointIO()])``. Remote paths (``s3://``, ...)
    are written as Lightning writes them.
    """

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        folder = os.path.dirname(os.fspath(path))
        try:
            os.makedirs(folder or ".", exist_ok=True)
            with atomic_path(path) as partial:
                torch.save(checkpoint, partial)
        except OSError as error:
            raise CheckpointError(
                f"Could not write the checkpoint {path}: {error}. Nothing was written in its "
                "place and the checkpoints saved before are unchanged; free space there or "
                "save elsewhere (`checkpoint.dirpath`, `trainer.default_root_dir`)."
            ) from error

    @override
    def load_checkpoint(
        self,
        path: _PATH,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        try:
            return super().load_checkpoint(
                path, map_location=map_location, weights_only=weights_only
            )
        except Exception as error:
            unreadable = _unreadable(path, error)
            if unreadable is None:
                raise
            raise unreadable from error


def _unreadable(path: Any, error: Exception) -> CheckpointError | None:
    """A :class:`CheckpointError` naming ``path`` when loading it failed because it is a
    local file that is not a whole PyTorch checkpoint (a zip archive); else ``None``
    (a missing file, a remote one, a whole checkpoint failing otherwise: their own words)."""
    local = isinstance(path, (str, os.PathLike)) and "://" not in str(path)
    if isinstance(error, FileNotFoundError) or not local or not os.path.isfile(path):
        return None
    if zipfile.is_zipfile(path):
        return None
    size = os.path.getsize(path)
    what = "empty" if size == 0 else f"{size} bytes, not a whole PyTorch zip archive"
    return CheckpointError(
        f"The checkpoint {path} cannot be read: it is truncated or not a checkpoint "
        f"({what}; torch.load said {type(error).__name__}: {error}). Resume from an "
        "earlier checkpoint, or train again."
    )


class ReadableCheckpoints:
    """``load_from_checkpoint`` whose unreadable files raise :class:`CheckpointError`
    naming the file (a mixin of the package's ``LightningModule``s)."""

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:
        """Lightning's ``load_from_checkpoint``; a truncated, empty or foreign file raises
        :class:`CheckpointError` instead of torch's ``EOFError`` or ``UnpicklingError``."""
        try:
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)
        except TypeError as error:
            # A module built in Python saved its arguments but not its block (an
            # nn.Module is not a hyperparameter): Python said only "missing ... 'ode'".
            missing = re.match(
                r"(?:\w+\.)?__init__\(\) missing 1 required positional argument: '(\w+)'",
                str(error),
            )
            if missing is None or missing.group(1) in kwargs:
                unreadable = _unreadable(checkpoint_path, error)
                if unreadable is None:
                    raise
                raise unreadable from error
            name = missing.group(1)
            raise TypeError(
                f"The checkpoint {checkpoint_path} holds no `{name}`: the "
                f"{cls.__name__} that saved it was built in Python, and its `{name}` (a "
                "module, not a hyperparameter) is saved as weights only. Build it again "
                f"and pass it: {cls.__name__}.load_from_checkpoint(path, {name}=...); the "
                "weights fill it. (Checkpoints of the `anode` command rebuild it from "
                "their config.)"
            ) from error
        except Exception as error:
            unreadable = _unreadable(checkpoint_path, error)
            if unreadable is None:
                raise
            raise unreadable from error


def instantiated_by_cli() -> bool:
    """Whether LightningCLI is building this module (it hands over the parsed config).

    Lightning says so only through a private context variable, read here lazily: a
    release without it degrades to plain use (``ode`` then stays out of the saved
    hyperparameters) instead of breaking ``import anode_plugin``.
    """
    try:
        from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
    except ImportError:
        return False
    return _given_hyperparameters.get() is not None
