"""Finding the ODE blocks of a model and measuring their NFE over one batch."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torchdyn.core import NeuralODE
from typing_extensions import override

from .._cnf import AugmentedCNF
from .._model import AugmentedNeuralODE
from .._nfe import NFERecord, StepRecord

__all__ = ["BatchNFEMeter", "MeteredCallback", "find_ode_blocks"]


def find_ode_blocks(module: nn.Module) -> list[NeuralODE | AugmentedCNF]:
    """Every ``AugmentedNeuralODE``, ``AugmentedCNF`` and plain ``torchdyn.core.NeuralODE``
    inside ``module``.

    Blocks nested in another block's vector field are found too: each counts the
    evaluations of its own vector field, so their sum is the total work.
    """
    return [m for m in module.modules() if isinstance(m, (NeuralODE, AugmentedCNF))]


class BatchNFEMeter:
    """NFE of a set of ODE blocks over one batch, forward and backward apart.

    An ``AugmentedNeuralODE`` (or ``AugmentedCNF``) splits its own count exactly, so it is reset at
    :meth:`start` and read at :meth:`read`. A plain torchdyn ``NeuralODE`` only keeps
    ``vf.nfe``, one float mixing both passes; its evaluations are attributed to the
    backward pass when they happen between :meth:`before_backward` and
    :meth:`after_backward` (Lightning's ``on_before_backward``/``on_after_backward``),
    and to the forward pass otherwise. Several backward calls per batch (manual
    optimisation, several optimisers) are handled: the segments add up.

    Args:
        blocks: the ODE blocks, as returned by :func:`find_ode_blocks`.
    """

    def __init__(self, blocks: list[NeuralODE | AugmentedCNF]) -> None:
        self.blocks = blocks
        exact = (AugmentedNeuralODE, AugmentedCNF)
        self._anodes = [b for b in blocks if isinstance(b, exact)]
        self._plain = [b for b in blocks if not isinstance(b, exact)]
        self._forward = 0.0
        self._backward = 0.0
        self._mark = 0.0
        self._in_backward = False

    def _plain_count(self) -> float:
        return float(sum(b.vf.nfe for b in self._plain))

    def start(self) -> None:
        """Reset every block's count: the start of a batch."""
        for block in self._anodes:
            block.reset_nfe()
        for block in self._plain:
            block.vf.nfe = 0.0
        self._forward = self._backward = self._mark = 0.0
        self._in_backward = False

    def before_backward(self) -> None:
        """Close a forward segment: evaluations from now on are backward ones."""
        now = self._plain_count()
        self._forward += now - self._mark
        self._mark, self._in_backward = now, True

    def after_backward(self) -> None:
        """Close a backward segment."""
        now = self._plain_count()
        self._backward += now - self._mark
        self._mark, self._in_backward = now, False

    def read(self) -> NFERecord:
        """The evaluations since :meth:`start`, summed over the blocks."""
        open_segment = self._plain_count() - self._mark
        forward = self._forward + (0.0 if self._in_backward else open_segment)
        backward = self._backward + (open_segment if self._in_backward else 0.0)
        record = NFERecord(round(forward), round(backward))
        return sum((b.nfe for b in self._anodes), record)

    def read_per_sample(self) -> Tensor | None:
        """Each input's forward NFE in the last solve of each block since :meth:`start`,
        summed over the blocks: ``[batch]``; ``None`` without a batched solve (or when
        the blocks solved batches of different sizes)."""
        rows = [b.stats.per_sample for b in self._anodes]
        rows = [r.nfe for r in rows if r is not None]
        if not rows or any(r.shape != rows[0].shape for r in rows):
            return None
        return torch.stack(rows).sum(0)

    def read_steps(self) -> StepRecord:
        """Accepted and rejected steps since :meth:`start`, summed over the
        ``AugmentedNeuralODE`` blocks (plain torchdyn blocks do not count steps)."""
        return sum((b.steps for b in self._anodes), StepRecord())


class MeteredCallback(Callback):
    """Base of the callbacks that measure each training batch's NFE with a meter.

    It finds the ODE blocks at ``setup`` and keeps :attr:`_meter` in step with the
    batch (reset at its start, forward and backward segments around ``backward``).
    Subclasses read ``self._meter.read()`` in their batch-end hooks.
    """

    #: What the subclass does without ODE blocks, for the warning.
    _without_blocks = "it will do nothing"

    def __init__(self) -> None:
        self._meter: BatchNFEMeter | None = None

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        blocks = find_ode_blocks(pl_module)
        if not blocks:
            rank_zero_warn(
                f"{type(self).__name__} found no AugmentedNeuralODE or torchdyn NeuralODE "
                f"inside {type(pl_module).__name__}; {self._without_blocks}."
            )
        self._meter = BatchNFEMeter(blocks) if blocks else None

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._meter = None

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._meter is not None:
            self._meter.start()

    @override
    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor
    ) -> None:
        if self._meter is not None and trainer.training:
            self._meter.before_backward()

    @override
    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._meter is not None and trainer.training:
            self._meter.after_backward()

    def __getstate__(self) -> dict[str, Any]:
        # The meter holds the model's blocks: rebuilt at `setup`, never pickled.
        state = self.__dict__.copy()
        state["_meter"] = None
        return state
