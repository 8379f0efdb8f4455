"""``NFEBudget``: act when a training step needs more function evaluations than allowed."""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from .._errors import NFEBudgetExceeded
from .._validation import check_choice, check_positive_int
from ._ode_blocks import MeteredCallback

__all__ = ["ON_EXCEED", "NFEBudget"]

ON_EXCEED = ("stop", "raise", "warn")

_HINT = (
    "The flow has become hard to integrate (the paper sees NODEs pass 1000 NFEs). Try "
    "more augmented dimensions (`augment_dims`), looser tolerances, weight decay, a "
    "fixed-step solver, or a larger budget."
)


class NFEBudget(MeteredCallback):
    """Watches the NFE of every training step and acts when it goes over a budget.

    The forward (and, if given, backward) evaluations of a training step are summed
    over the model's ODE blocks (every ``AugmentedNeuralODE`` and torchdyn
    ``NeuralODE``) and compared with the budget. Under multi-process training the
    figures are reduced with a maximum over the processes before deciding, so every
    process takes the same decision.

    Args:
        max_forward: largest allowed forward NFE per training step.
        max_backward: largest allowed backward (adjoint) NFE per training step; ``None``
            for no limit.
        on_exceed: what to do when a step goes over the budget:

            - ``'stop'``: finish the step, save a checkpoint in the run's checkpoint
              directory (``nfe-budget-epoch=E-step=S.ckpt``, path in the warning and in
              :attr:`checkpoint_path`) and stop training.
            - ``'raise'``: raise :class:`~anode_plugin.NFEBudgetExceeded`.
            - ``'warn'``: warn at the first step over budget and, at the end of
              training, how many steps were; training goes on.

    Attributes:
        exceeded_steps: global steps that went over the budget (kept in checkpoints).
        checkpoint_path: where ``'stop'`` saved its checkpoint, or ``None``.
    """

    _without_blocks = "it will never act"

    def __init__(
        self, max_forward: int, max_backward: int | None = None, on_exceed: str = "stop"
    ) -> None:
        self.max_forward = check_positive_int("max_forward", max_forward)
        self.max_backward = (
            None if max_backward is None else check_positive_int("max_backward", max_backward)
        )
        self.on_exceed = check_choice("on_exceed", on_exceed, ON_EXCEED)
        super().__init__()
        self.exceeded_steps: list[int] = []
        self.checkpoint_path: str | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            max_forward=self.max_forward, max_backward=self.max_backward, on_exceed=self.on_exceed
        )

    def _over_budget(self, forward: int, backward: int) -> tuple[str, int, int] | None:
        if forward > self.max_forward:
            return "forward", forward, self.max_forward
        if self.max_backward is not None and backward > self.max_backward:
            return "backward", backward, self.max_backward
        return None

    @override
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        if self._meter is None:
            return
        record = self._meter.read()
        local = torch.tensor([record.forward, record.backward], device=pl_module.device)
        # The same maximum on every process, hence the same decision everywhere.
        forward, backward = (int(v) for v in trainer.strategy.reduce(local, reduce_op="max"))
        over = self._over_budget(forward, backward)
        if over is None:
            return
        kind, nfe, budget = over
        step = trainer.global_step
        self.exceeded_steps.append(step)
        message = (
            f"Training step {step} (epoch {trainer.current_epoch}) needed {nfe} {kind} "
            f"evaluations of the vector field, over NFEBudget(max_{kind}={budget})."
        )
        if self.on_exceed == "raise":
            error = NFEBudgetExceeded(nfe, budget)
            error.args = (f"{message} {_HINT}",)
            raise error
        if self.on_exceed == "warn":
            if len(self.exceeded_steps) == 1:
                rank_zero_warn(f"{message} Training goes on (on_exceed='warn'). {_HINT}")
            return
        trainer.should_stop = True
        folder = _checkpoint_dir(trainer)
        if folder is None:
            rank_zero_warn(
                f"{message} Stopping training (on_exceed='stop'). No checkpoint was saved: "
                "checkpointing is off and there is no logger, so the run has no folder for "
                "one (a ModelCheckpoint or a logger gives it one). The model after this "
                f"step is the one in memory. {_HINT}"
            )
            return
        path = os.path.join(folder, self._checkpoint_name(trainer))
        _save_whole(trainer, path)
        self.checkpoint_path = path
        rank_zero_warn(
            f"{message} Stopping training (on_exceed='stop'); the model after this step is "
            f"saved in {path}. {_HINT}"
        )

    @staticmethod
    def _checkpoint_name(trainer: pl.Trainer) -> str:
        return f"nfe-budget-epoch={trainer.current_epoch}-step={trainer.global_step}.ckpt"

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_exceed == "warn" and len(self.exceeded_steps) > 1:
            rank_zero_warn(
                f"{len(self.exceeded_steps)} training steps went over the NFE budget "
                f"(max_forward={self.max_forward}, max_backward={self.max_backward}); the "
                f"last was step {self.exceeded_steps[-1]}."
            )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "exceeded_steps": list(self.exceeded_steps),
            "checkpoint_path": self.checkpoint_path,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.exceeded_steps = list(state_dict["exceeded_steps"])
        self.checkpoint_path = state_dict["checkpoint_path"]


def _checkpoint_dir(trainer: pl.Trainer, *, fallback: bool = False) -> str | None:
    """Where the trainer keeps checkpoints: its ``ModelCheckpoint``'s folder, else the
    logger's run folder's ``checkpoints`` (Lightning's layout); with neither, ``None``,
    or ``<default_root_dir>/checkpoints`` with ``fallback`` (a callback whose one job is
    to save, such as ``FailureGuard``)."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.dirpath:
        return str(callback.dirpath)
    if isinstance(callback, ModelCheckpoint) or trainer.loggers:
        return os.path.join(str(trainer.log_dir), "checkpoints")
    return os.path.join(trainer.default_root_dir, "checkpoints") if fallback else None


def _save_whole(trainer: pl.Trainer, path: str) -> None:
    """``trainer.save_checkpoint(path)`` under a temporary name, renamed when complete, so
    that a kill never leaves a partial checkpoint under the final name."""
    folder, name = os.path.split(path)
    partial = os.path.join(folder, f".{name}.partial")
    trainer.save_checkpoint(partial)  # every rank calls it; rank zero writes, then all wait
    if trainer.is_global_zero:
        os.replace(partial, path)
    trainer.strategy.barrier("NFEBudget._save_whole")
