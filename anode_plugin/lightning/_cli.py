"""The ``anode`` command line: ``anode fit|validate|test|predict --config CONFIG.yaml``.

Built on ``LightningCLI``: every option comes from the typed signatures of
:class:`ANODEModule`, the DataModule named in the config and ``lightning.pytorch.Trainer``.
A user's vector field, ODE block or DataModule is named by its import path
(``class_path``) and needs no registration.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from typing_extensions import override

from ._failure_guard import FailureGuard
from ._module import ANODEModule

__all__ = ["ANODECLI", "main"]


class ANODECLI(LightningCLI):
    """``LightningCLI`` for :class:`ANODEModule`, with resumable checkpoints.

    Adds a ``checkpoint`` section (a ``ModelCheckpoint``) that keeps ``last.ckpt``, and
    a :class:`FailureGuard` that turns a non-finite loss or a failed solve into a clean
    stop with a checkpoint.
    Unless ``checkpoint.dirpath`` is set, checkpoints go to
    ``<trainer.default_root_dir>/checkpoints``, the same folder on every run, so that
    ``--ckpt_path last`` finds the previous run's last checkpoint.
    """

    @override
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        # Always on: a non-finite loss or a failed solve stops the run with a checkpoint.
        parser.add_lightning_class_args(FailureGuard, "failure_guard")

    @override
    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.checkpoint.dirpath is None:
            root = config.trainer.default_root_dir or os.getcwd()
            config.checkpoint.dirpath = os.path.join(str(root), "checkpoints")


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``anode`` command line.

    Args:
        args: command-line arguments; ``None`` reads ``sys.argv``.
    """
    if torch.cuda.is_available():
        # TF32 matmuls and convolutions: about twice as fast on Ampere and newer GPUs,
        # well inside the solvers' 1e-3 tolerances.
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
    ANODECLI(
        ANODEModule,
        pl.LightningDataModule,
        subclass_mode_data=True,
        args=None if args is None else list(args),
        parser_kwargs={"description": "Train, validate and test (Augmented) Neural ODEs."},
        # `fit` then a resumed `fit` write into the same run folder.
        save_config_kwargs={"overwrite": True},
    )


if __name__ == "__main__":
    main()
