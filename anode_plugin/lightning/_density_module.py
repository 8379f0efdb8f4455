"""``DensityModule``: a continuous normalizing flow trained by likelihood or flow matching."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torchmetrics import MeanMetric
from typing_extensions import override

from .._cnf import COUPLINGS, AugmentedCNF
from .._validation import (
    check_choice,
    check_non_negative_float,
    check_positive_float,
    check_positive_int,
)
from ..datasets._densities import bits_per_dim
from ._checkpoint_io import ReadableCheckpoints

__all__ = ["OBJECTIVES", "DensityModule"]

#: Training objectives: the negative bound (maximum likelihood) or flow matching.
OBJECTIVES = ("likelihood", "flow_matching")


class DensityModule(ReadableCheckpoints, pl.LightningModule):
    """Density estimation with an :class:`~anode_plugin.AugmentedCNF`.

    With ``objective='likelihood'`` the loss is the negative lower bound on ``log p(x)``
    in nats, averaged over the batch (the exact negative log-likelihood for a plain or
    exactly augmented flow) and logged as ``train/nll``; with ``objective='flow_matching'``
    it is :meth:`~anode_plugin.AugmentedCNF.flow_matching_loss` (no solve per step),
    logged as ``train/flow_matching_loss``. Validation and test use the
    importance-weighted bound with ``eval_samples`` draws whatever the objective.

    Logs ``val/nll`` and ``test/nll`` (per epoch, means over the samples), in nats.
    With ``bin_width`` (discrete data dequantised with uniform noise, e.g. the digits
    of ``DensityDataModule('digits')``), also ``train/bits_per_dim`` (likelihood
    only), ``val/bits_per_dim`` and ``test/bits_per_dim``:
    ``(nll - D log bin_width) / (D log 2)``, the usual bound on the discrete data's
    code length (see :func:`anode_plugin.datasets.bits_per_dim`).

    Batches are ``x`` or ``(x, ...)`` tuples whose first entry is ``[batch, data_dims]``.
    The flow is not a saved hyperparameter: reload a checkpoint with
    ``DensityModule.load_from_checkpoint(path, flow=AugmentedCNF(...))``.

    Args:
        flow: the flow, an :class:`~anode_plugin.AugmentedCNF`.
        lr: Adam's learning rate.
        weight_decay: Adam's weight decay.
        eval_samples: draws ``k`` of the importance-weighted bound in validation and
            test (1: the plain bound; ignored by a plain CNF).
        bin_width: width of one quantisation level of the data in the model's units;
            ``None`` for continuous data (no bits per dimension).
        objective: ``'likelihood'`` or ``'flow_matching'`` (see :data:`OBJECTIVES`).
        sigma: flow matching's path width (``objective='flow_matching'`` only).
        coupling: flow matching's pairing, ``'independent'`` or ``'ot'``.
    """

    def __init__(
        self,
        flow: AugmentedCNF,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        eval_samples: int = 1,
        bin_width: float | None = None,
        objective: str = "likelihood",
        sigma: float = 0.0,
        coupling: str = "independent",
    ) -> None:
        super().__init__()
        if not isinstance(flow, AugmentedCNF):
            raise TypeError(
                f"`flow` must be an anode_plugin.AugmentedCNF, got {type(flow).__name__}."
            )
        self.flow = flow
        self.lr = check_positive_float("lr", lr)
        if weight_decay != 0:
            check_positive_float("weight_decay", weight_decay)
        self.weight_decay = float(weight_decay)
        self.eval_samples = check_positive_int("eval_samples", eval_samples)
        self.bin_width = None if bin_width is None else check_positive_float("bin_width", bin_width)
        self.objective = check_choice("objective", objective, OBJECTIVES)
        self.coupling = check_choice("coupling", coupling, COUPLINGS)
        self.sigma = check_non_negative_float("sigma", sigma)
        if self.objective != "flow_matching" and (sigma != 0.0 or coupling != "independent"):
            raise ValueError(
                "`sigma` and `coupling` are flow matching's: they need "
                f"objective='flow_matching', got objective={self.objective!r} with "
                f"sigma={sigma!r}, coupling={coupling!r}."
            )
        self.save_hyperparameters(ignore=["flow"])
        self.val_nll = MeanMetric()
        self.test_nll = MeanMetric()

    @staticmethod
    def _data(batch: Any) -> Tensor:
        return batch[0] if isinstance(batch, (tuple, list)) else batch

    def forward(self, x: Tensor) -> Tensor:
        """The bound on ``log p(x)`` per sample, in nats: ``[batch]``."""
        return self.flow.log_prob(x)

    def _log_bits(self, stage: str, nll: Tensor, **kwargs: Any) -> None:
        if self.bin_width is not None:
            bits = bits_per_dim(nll, self.flow.data_dims, self.bin_width)
            self.log(f"{stage}/bits_per_dim", bits, **kwargs)

    @override
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x = self._data(batch)
        options = {"on_step": True, "on_epoch": True, "batch_size": x.shape[0]}
        if self.objective == "flow_matching":
            loss = self.flow.flow_matching_loss(x, sigma=self.sigma, coupling=self.coupling)
            self.log("train/flow_matching_loss", loss, prog_bar=True, **options)
            return loss
        loss = -self.flow.log_prob(x).mean()
        self.log("train/nll", loss, prog_bar=True, **options)
        self._log_bits("train", loss.detach(), **options)
        return loss

    def _evaluate(self, batch: Any, stage: str, metric: MeanMetric) -> Tensor:
        x = self._data(batch)
        # The trace needs autograd, which Lightning's inference mode forbids: leave it
        # (the flow keeps no graph under no_grad) and copy the inference-mode batch.
        with torch.inference_mode(False), torch.no_grad():
            nll = -self.flow.log_prob(x.clone(), samples=self.eval_samples)
        metric.update(nll)
        self.log(f"{stage}/nll", metric, prog_bar=stage == "val", on_epoch=True)
        if self.bin_width is not None:
            self.log(
                f"{stage}/bits_per_dim",
                bits_per_dim(nll.mean(), self.flow.data_dims, self.bin_width),
                on_epoch=True,
                batch_size=x.shape[0],
            )
        return nll.mean()

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val", self.val_nll)

    @override
    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test", self.test_nll)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """``n`` samples of the flow's data part: ``[n, data_dims]``."""
        return self.flow.sample(n)

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def extra_repr(self) -> str:
        return (
            f"lr={self.lr}, eval_samples={self.eval_samples}, bin_width={self.bin_width}, "
            f"objective={self.objective!r}"
        )
