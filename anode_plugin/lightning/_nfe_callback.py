"""``NFECallback``: NFE per training step and per evaluation batch, logged and kept."""

from __future__ import annotations

import math
import numbers
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from typing_extensions import override

from .._validation import check_positive_int
from ..solve import PerSampleStats
from ._nfe_history import NFEHistory, NFEStep
from ._ode_blocks import MeteredCallback

__all__ = ["NFECallback", "step_loss"]


def step_loss(outputs: Any) -> float:
    """The loss of a training step's ``outputs`` (a tensor or a number, alone or as
    ``{"loss": ...}``); NaN when they hold none (a skipped step returns ``None``)."""
    loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
    if isinstance(loss, Tensor):
        return float(loss.detach())
    if isinstance(loss, numbers.Real) and not isinstance(loss, bool):
        return float(loss)
    return math.nan


class NFECallback(MeteredCallback):
    """Logs the number of function evaluations (NFE) of every ODE block of a model.

    The callback finds every ``AugmentedNeuralODE`` and every plain
    ``torchdyn.core.NeuralODE`` inside the LightningModule, resets their counts at the
    start of each batch and logs, summed over the blocks:

    - ``nfe/forward``, ``nfe/backward``, ``nfe/total`` after each training step, sent to
      the loggers every ``log_every_n_steps`` steps (whatever the Trainer's own
      ``log_every_n_steps``) and shown on the progress bar;
    - ``steps/accepted`` and ``steps/rejected``, the solver steps of the training step
      (forward and backward), sent to the loggers likewise and kept in
      ``trainer.callback_metrics``;
    - ``nfe/per_sample/mean``, ``nfe/per_sample/p90`` and ``nfe/per_sample/max``, the
      distribution over the epoch's training inputs of each input's forward NFE, at the
      end of each training epoch: with a backend that steps each sample on its own
      (``backend='torchode'``) the inputs differ, and the tail shows the hard ones;
      otherwise every input of a batch has the batch's NFE. Kept in
      :attr:`per_sample_history`, one dict per epoch;
    - ``val/nfe/forward`` and ``test/nfe/forward``, the mean forward NFE per batch, at
      the end of each validation and test epoch (sanity checks are skipped).

    Under multi-process training (DDP and friends) each figure is the **mean over the
    processes**, so it reads like a single-process figure and is never double
    counted: the step figures are averaged by one all-reduce per step, the epoch
    figures with ``sync_dist=True`` (the per-sample maximum is the maximum over the
    processes, its mean and 90th percentile the mean of theirs). Every process keeps
    the same averaged :attr:`history`, one :class:`~anode_plugin.lightning.NFEStep` per
    training step; it is saved in checkpoints, so a resumed run continues it.

    Args:
        log_every_n_steps: send the step figures to the loggers every this many
            training steps (the history and the progress bar get every step).
        prog_bar: show the figures on the progress bar (and in ``trainer.callback_metrics``).

    Example:
        >>> import lightning.pytorch as pl
        >>> from anode_plugin.lightning import NFECallback
        >>> nfe = NFECallback()
        >>> trainer = pl.Trainer(callbacks=[nfe], logger=False, max_epochs=1)
        >>> # trainer.fit(model, data); nfe.history.to_csv("nfe.csv")
    """

    _without_blocks = "it will log nothing"

    def __init__(self, log_every_n_steps: int = 1, prog_bar: bool = True) -> None:
        self.log_every_n_steps = check_positive_int("log_every_n_steps", log_every_n_steps)
        if not isinstance(prog_bar, bool):
            raise ValueError(f"`prog_bar` must be True or False, got {prog_bar!r}.")
        self.prog_bar = prog_bar
        super().__init__()
        self.history = NFEHistory()
        self.per_sample_history: list[dict[str, float]] = []
        self._per_sample: list[Tensor] = []
        self._eval_sum = 0.0
        self._eval_batches = 0

    # ------------------------------------------------------------------ training
    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if self._meter is None:
            return
        record, steps = self._meter.read(), self._meter.read_steps()
        per_sample = self._meter.read_per_sample()
        if per_sample is not None:
            self._per_sample.append(per_sample)
        figures = [
            record.forward,
            record.backward,
            record.total,
            step_loss(outputs),
            steps.accepted,
            steps.rejected,
        ]
        if trainer.world_size > 1:
            local = torch.tensor(
                figures,
                # MPS has no float64; elsewhere float64 keeps large counts exact.
                dtype=torch.float32 if pl_module.device.type == "mps" else torch.float64,
                device=pl_module.device,
            )
            # One all-reduce for all the figures.
            figures = trainer.strategy.reduce(local, reduce_op="mean").tolist()
        forward, backward, total, loss, accepted, rejected = (float(v) for v in figures)
        self.history.append(
            NFEStep(
                trainer.global_step,
                trainer.current_epoch,
                loss,
                forward,
                backward,
                total,
                accepted,
                rejected,
            )
        )
        figures = {"nfe/forward": forward, "nfe/backward": backward, "nfe/total": total}
        step_figures = {"steps/accepted": accepted, "steps/rejected": rejected}
        if self.prog_bar:
            # For the progress bar and `callback_metrics`; already averaged over the
            # processes above, hence no `sync_dist`. (`self.log` costs about 0.1 ms a
            # call, which matters on small models: skipped without a progress bar.)
            pl_module.log_dict(figures, on_step=True, on_epoch=False, prog_bar=True, logger=False)
            pl_module.log_dict(step_figures, on_step=True, on_epoch=False, logger=False)
        figures.update(step_figures)
        if len(self.history) % self.log_every_n_steps == 0:
            # Straight to the loggers, as LearningRateMonitor does: through `self.log`, a
            # step not logged would repeat the previous step's figures.
            step = trainer.fit_loop.epoch_loop._batches_that_stepped
            for logger in trainer.loggers:
                logger.log_metrics({**figures, "epoch": trainer.current_epoch}, step=step)

    @override
    def on_train_epoch_start(self, *args: Any, **kwargs: Any) -> None:
        self._per_sample = []

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._per_sample:
            return
        summary = PerSampleStats.summary_of(torch.cat(self._per_sample))
        self._per_sample = []
        self.per_sample_history.append({"epoch": trainer.current_epoch, **summary})
        for name, value in summary.items():
            pl_module.log(
                f"nfe/per_sample/{name}",
                value,
                sync_dist=True,
                reduce_fx="max" if name == "max" else "mean",
                batch_size=1,
            )

    # ------------------------------------------------------------------ evaluation
    def _eval_start(self) -> None:
        self._eval_sum, self._eval_batches = 0.0, 0

    def _eval_batch_start(self, trainer: pl.Trainer) -> None:
        if self._meter is not None and not trainer.sanity_checking:
            self._meter.start()

    def _eval_batch_end(self, trainer: pl.Trainer) -> None:
        if self._meter is not None and not trainer.sanity_checking:
            self._eval_sum += self._meter.read().forward
            self._eval_batches += 1

    def _eval_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, prefix: str) -> None:
        if self._meter is None or trainer.sanity_checking or not self._eval_batches:
            return
        pl_module.log(
            f"{prefix}/nfe/forward",
            self._eval_sum / self._eval_batches,
            prog_bar=self.prog_bar,
            sync_dist=True,
            batch_size=1,
        )

    @override
    def on_validation_epoch_start(self, *args: Any, **kwargs: Any) -> None:
        self._eval_start()

    @override
    def on_validation_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._eval_batch_start(trainer)

    @override
    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._eval_batch_end(trainer)

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_end(trainer, pl_module, "val")

    @override
    def on_test_epoch_start(self, *args: Any, **kwargs: Any) -> None:
        self._eval_start()

    @override
    def on_test_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._eval_batch_start(trainer)

    @override
    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._eval_batch_end(trainer)

    @override
    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_end(trainer, pl_module, "test")

    # ------------------------------------------------------------------ state
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history.as_dicts(), "per_sample": list(self.per_sample_history)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = NFEHistory.from_dicts(state_dict["history"])
        # Checkpoints from before the per-sample figures have none.
        self.per_sample_history = list(state_dict.get("per_sample", []))
