"""The ``anode`` command line: ``anode fit|validate|test|predict --config CONFIG.yaml``.

Built on ``LightningCLI``: every option comes from the typed signatures of the model
(:class:`ANODEModule` unless the config names another, e.g. :class:`DensityModule`),
the DataModule named in the config and ``lightning.pytorch.Trainer``.
A user's vector field, ODE block or DataModule is named by its import path
(``class_path``) and needs no registration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from typing_extensions import override

from .._command_line import ExplainedParserErrors, check_output_folder, run_command
from .._tf32 import enable_tf32
from ._atomic_logger import AtomicCSVLogger
from ._channels_last import ChannelsLast
from ._failure_guard import FailureGuard

__all__ = ["ANODECLI", "main"]


class _Parser(ExplainedParserErrors, LightningArgumentParser):
    """Lightning's parser, with the package's words where jsonargparse's mislead."""


class ANODECLI(LightningCLI):
    """``LightningCLI`` for :class:`ANODEModule`, with resumable checkpoints.

    The model section takes any ``LightningModule`` by ``class_path`` (e.g.
    :class:`DensityModule`); without one it is an :class:`ANODEModule`, so configs
    that give its arguments directly under ``model:`` keep working.

    Adds a ``checkpoint`` section (a ``ModelCheckpoint``) that keeps ``last.ckpt``, and
    a :class:`FailureGuard` that turns a non-finite loss or a failed solve into a clean
    stop with a checkpoint.

    Unless ``checkpoint.dirpath`` is set, checkpoints go under the run's own log folder,
    Lightning's default: ``<default_root_dir>/lightning_logs/version_N/checkpoints``.
    ``--ckpt_path last`` takes the newest ``last`` checkpoint of every earlier run under
    the same logger (and in ``checkpoint.dirpath``, or ``<default_root_dir>/checkpoints``
    where earlier releases wrote them) and says which one it took. A smoke run
    (``--trainer.fast_dev_run``) writes no checkpoint, and refuses ``--ckpt_path last``.
    """

    @override
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        # Always on: a non-finite loss or a failed solve stops the run with a checkpoint.
        parser.add_lightning_class_args(FailureGuard, "failure_guard")
        parser.set_defaults({"model": {"class_path": "anode_plugin.lightning.ANODEModule"}})

    @override
    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.trainer.fast_dev_run and config.get("ckpt_path") == "last":
            raise ValueError(
                "`--ckpt_path last` with `--trainer.fast_dev_run`: a smoke run neither "
                "resumes from nor writes `last` checkpoints. Drop `--ckpt_path`, or pass a "
                "checkpoint's path."
            )

    @override
    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        for logger in trainer.loggers:
            if type(logger) is CSVLogger:
                # Lightning's default logger, not yet used: the same state, with
                # hparams.yaml written whole (a full disk left it empty on a resume).
                logger.__class__ = AtomicCSVLogger
        return trainer

    def _prepare_run(self) -> None:
        """Keep a smoke run's checkpoints out of the run history; resolve ``last``."""
        if self.trainer.fast_dev_run:
            # Lightning 2.6 still saves `last` under fast_dev_run; a later
            # `--ckpt_path last` would then resume from the smoke test's weights.
            self.trainer.callbacks = [
                c for c in self.trainer.callbacks if not isinstance(c, ModelCheckpoint)
            ]
            return
        arguments = self.config_init[self.subcommand]
        if arguments.get("ckpt_path") == "last":
            found = last_checkpoints(self.trainer)
            if found:
                arguments["ckpt_path"] = str(found[0])
                others = "".join(f"\n  {path}" for path in found[1:])
                rank_zero_info(
                    f"--ckpt_path last: resuming from {found[0]}"
                    + (f", the newest of {len(found)}; the others:{others}" if others else "")
                )
            elif self.subcommand == "fit":
                # Lightning would start afresh under a hint to set `save_last=True`, which
                # this CLI already sets: say plainly what happens instead.
                arguments["ckpt_path"] = None
                rank_zero_warn(
                    "--ckpt_path last: no `last` checkpoint of an earlier run under "
                    f"{self.trainer.default_root_dir}; training starts from scratch."
                )
            else:
                raise ValueError(
                    f"`--ckpt_path last`: no `last` checkpoint of an earlier run under "
                    f"{self.trainer.default_root_dir}, so `{self.subcommand}` has no weights "
                    "to load. Pass a checkpoint's path, or run `anode fit` first."
                )

    @override
    def before_fit(self) -> None:
        if not self.trainer.fast_dev_run:
            # Once the model and data are built, before any training: a full or
            # unwritable folder is found now, not when the first checkpoint is written.
            check_output_folder(self.trainer.default_root_dir, option="--trainer.default_root_dir")
            dirpath = self.config[self.subcommand].checkpoint.dirpath
            if dirpath:
                check_output_folder(dirpath, option="--checkpoint.dirpath")
        self._prepare_run()

    @override
    def before_validate(self) -> None:
        self._prepare_run()

    @override
    def before_test(self) -> None:
        self._prepare_run()

    @override
    def before_predict(self) -> None:
        self._prepare_run()


def last_checkpoints(trainer: pl.Trainer) -> list[Path]:
    """The ``last`` checkpoints of a trainer's earlier runs, newest first.

    Looked for in the version folders of the trainer's loggers
    (``<root>/version_*/checkpoints``), in each ``ModelCheckpoint``'s explicit
    ``dirpath``, and in ``<default_root_dir>/checkpoints``.

    Args:
        trainer: the trainer of the new run, with its loggers and callbacks.

    Returns:
        Paths of files named ``last*.ckpt``, most recently written first.
    """
    folders = [Path(trainer.default_root_dir) / "checkpoints"]
    for logger in trainer.loggers:
        root = getattr(logger, "root_dir", None)
        if root is not None:
            folders.extend(Path(root).glob("*/checkpoints"))
    name = f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}*{ModelCheckpoint.FILE_EXTENSION}"
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            if callback.dirpath:
                folders.append(Path(callback.dirpath))
            name = f"{callback.CHECKPOINT_NAME_LAST}*{callback.FILE_EXTENSION}"
    found = {path.resolve() for folder in folders for path in folder.glob(name) if path.is_file()}
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``anode`` command line.

    A user's mistake is answered in two lines, exit status 2 (``ANODE_TRACEBACK=1``
    shows the traceback).

    Args:
        args: command-line arguments; ``None`` reads ``sys.argv``.
    """
    if torch.cuda.is_available():
        enable_tf32()
    run_command("anode", lambda: _run_cli(args), args)


def _run_cli(args: Sequence[str] | None) -> None:
    ANODECLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=None if args is None else list(args),
        parser_kwargs={"description": "Train, validate and test (Augmented) Neural ODEs."},
        parser_class=_Parser,
        # `fit` then a resumed `fit` write into the same run folder.
        save_config_kwargs={"overwrite": True},
        # Added to the config's callbacks: conv ODE blocks run channels-last on CUDA.
        # Checkpoints are written whole or not at all (a full disk leaves no partial one).
        trainer_defaults={
            "callbacks": [ChannelsLast()],
            "plugins": [{"class_path": "anode_plugin.lightning.AtomicCheckpointIO"}],
        },
    )


if __name__ == "__main__":
    main()
