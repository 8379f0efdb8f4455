"""``ReconstructionCheck``: is the trained flow invertible in practice, each validation epoch?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from typing_extensions import override

from .._model import AugmentedNeuralODE
from .._reconstruction_tolerances import RECONSTRUCTION_THRESHOLD, check_ladder, check_threshold
from .._validation import check_positive_int
from ..testing import loosest_passing_tolerance, reconstruction_error
from ._ode_blocks import find_ode_blocks

__all__ = ["ReconstructionCheck"]


class ReconstructionCheck(Callback):
    """Logs how far integrating to the final time and back lands from the inputs.

    At the end of each validation epoch (sanity checks are skipped) the callback takes
    the first ``num_samples`` inputs that every ``AugmentedNeuralODE`` of the module
    received in the first validation batch (caught by a forward pre-hook, so a block
    nested after other layers gets its own inputs), and logs:

    - ``reconstruction/error``: the largest relative error ``||x_rec - x|| / ||x||``
      per sample of ``x_rec = block.inverse(block.features(x))`` at the block's own
      tolerances, over the samples and the blocks
      (:func:`~anode_plugin.testing.reconstruction_error`);
    - ``reconstruction/error_mean``: its mean over the samples (the worst block's);
    - ``reconstruction/loosest_tolerance``, when a ``ladder`` is given: the loosest
      tolerance of the ladder at which every block passes ``threshold``
      (:func:`~anode_plugin.testing.loosest_passing_tolerance`), NaN when none does.

    The solves run without gradients and inside ``uncounted()``: they change neither
    the NFE counts nor what :class:`~anode_plugin.lightning.NFECallback` logs. Under
    multi-process training every process checks its own first batch; the figures are
    gathered (largest error, mean of means, tightest passing tolerance), so every
    process logs and keeps the same :attr:`history`, saved in checkpoints.

    Args:
        num_samples: inputs of the first validation batch to check (fewer if the batch
            is smaller).
        ladder: tolerances to try, strictly decreasing, e.g.
            :data:`~anode_plugin.testing.TOLERANCE_LADDER`; ``None`` skips the search,
            which costs up to one pair of solves per tolerance.
        threshold: largest relative error per sample that passes the ladder's check.
        prog_bar: show the figures on the progress bar.

    Attributes:
        history: one dict per checked epoch: ``epoch``, ``global_step``, ``error``,
            ``error_mean`` and ``loosest_tolerance`` (``None`` without a ladder or when
            nothing passes).

    Example:
        >>> import lightning.pytorch as pl
        >>> from anode_plugin.lightning import ReconstructionCheck
        >>> from anode_plugin.testing import TOLERANCE_LADDER
        >>> check = ReconstructionCheck(num_samples=32, ladder=TOLERANCE_LADDER)
        >>> trainer = pl.Trainer(callbacks=[check], logger=False, max_epochs=1)
        >>> # trainer.fit(model, data); print(check.history)
    """

    def __init__(
        self,
        num_samples: int = 64,
        ladder: Sequence[float] | None = None,
        threshold: float = RECONSTRUCTION_THRESHOLD,
        prog_bar: bool = False,
    ) -> None:
        self.num_samples = check_positive_int("num_samples", num_samples)
        self.ladder = None if ladder is None else check_ladder(ladder)
        self.threshold = check_threshold(threshold)
        if not isinstance(prog_bar, bool):
            raise ValueError(f"`prog_bar` must be True or False, got {prog_bar!r}.")
        self.prog_bar = prog_bar
        self.history: list[dict[str, Any]] = []
        self._inputs: dict[int, Tensor] = {}
        self._handles: list[Any] = []

    # ------------------------------------------------------------------ catching inputs
    def _blocks(self, pl_module: pl.LightningModule) -> list[AugmentedNeuralODE]:
        return [b for b in find_ode_blocks(pl_module) if isinstance(b, AugmentedNeuralODE)]

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _catcher(self, index: int) -> Any:
        def catch(module: Any, args: tuple[Any, ...]) -> None:
            if index not in self._inputs and args and isinstance(args[0], Tensor):
                self._inputs[index] = args[0][: self.num_samples].detach().clone()

        return catch

    @override
    def on_validation_epoch_start(self, *args: Any, **kwargs: Any) -> None:
        self._inputs = {}

    @override
    def on_validation_batch_start(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if trainer.sanity_checking or batch_idx != 0 or dataloader_idx != 0:
            return
        self._remove_hooks()
        self._handles = [
            block.register_forward_pre_hook(self._catcher(i))
            for i, block in enumerate(self._blocks(pl_module))
        ]

    @override
    def on_validation_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self._remove_hooks()

    # ------------------------------------------------------------------ the check
    @override
    def on_validation_epoch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        self._remove_hooks()
        if trainer.sanity_checking:
            return
        blocks = self._blocks(pl_module)
        checked = [(blocks[i], x) for i, x in sorted(self._inputs.items()) if i < len(blocks)]
        self._inputs = {}
        if not checked:
            rank_zero_warn(
                f"ReconstructionCheck found no AugmentedNeuralODE called during the first "
                f"validation batch of {type(pl_module).__name__}; nothing is logged."
            )
            return
        errors, means, tolerances = [], [], []
        for block, x in checked:
            report = reconstruction_error(block, x)
            errors.append(report.max)
            means.append(report.mean)
            if self.ladder is not None:
                tol = loosest_passing_tolerance(
                    block, x, ladder=self.ladder, threshold=self.threshold
                )
                tolerances.append(math.nan if tol is None else tol)
        worst = max(range(len(errors)), key=lambda i: errors[i])
        loosest = min(tolerances, default=math.nan)  # the one that makes every block pass
        if any(math.isnan(t) for t in tolerances):
            loosest = math.nan
        local = torch.tensor(
            [errors[worst], means[worst], loosest],
            dtype=torch.float32 if pl_module.device.type == "mps" else torch.float64,
            device=pl_module.device,
        )
        gathered = trainer.strategy.all_gather(local).reshape(-1, 3)
        error = float(gathered[:, 0].max())
        error_mean = float(gathered[:, 1].mean())
        tols = gathered[:, 2]
        tolerance = math.nan if bool(tols.isnan().any()) else float(tols.min())
        figures = {"reconstruction/error": error, "reconstruction/error_mean": error_mean}
        if self.ladder is not None:
            figures["reconstruction/loosest_tolerance"] = tolerance
        # Already the same on every process (gathered above): no `sync_dist`.
        pl_module.log_dict(figures, prog_bar=self.prog_bar, batch_size=1)
        self.history.append(
            {
                "epoch": trainer.current_epoch,
                "global_step": trainer.global_step,
                "error": error,
                "error_mean": error_mean,
                "loosest_tolerance": (
                    None if self.ladder is None or math.isnan(tolerance) else tolerance
                ),
            }
        )

    @override
    def teardown(self, *args: Any, **kwargs: Any) -> None:
        self._remove_hooks()
        self._inputs = {}

    # ------------------------------------------------------------------ state
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(entry) for entry in self.history]}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(entry) for entry in state_dict["history"]]

    def __getstate__(self) -> dict[str, Any]:
        # Hook handles and caught inputs belong to one run: never pickled.
        state = self.__dict__.copy()
        state["_handles"], state["_inputs"] = [], {}
        return state
