"""What a solve returns: its states and its statistics, per sample where it stepped so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["PerSampleStats", "Solution", "SolveStats"]


@dataclass(frozen=True)
class PerSampleStats:
    """Evaluations and steps of each sample of one solve.

    A backend that steps each sample on its own (torchode) gives each sample its own
    counts: the evaluations and steps that sample needed while it was being solved.
    A backend that solves the batch as one system gives every sample the batch's.

    Attributes:
        nfe: evaluations, ``[batch]`` (int64, on the CPU).
        accepted: accepted steps, ``[batch]``.
        rejected: rejected steps, ``[batch]``.
    """

    nfe: Tensor
    accepted: Tensor
    rejected: Tensor

    @classmethod
    def joint(cls, batch: int, nfe: int, accepted: int, rejected: int) -> PerSampleStats:
        """Every one of ``batch`` samples with the counts of the batch solved as one system."""

        counts = torch.tensor([nfe, accepted, rejected], dtype=torch.long)
        return cls(*counts.view(3, 1).expand(3, batch))

    @property
    def batch(self) -> int:
        """Number of samples."""
        return int(self.nfe.shape[0])

    def summary(self) -> dict[str, float]:
        """The distribution of the per-sample evaluations: mean, 90th percentile and max."""
        return self.summary_of(self.nfe)

    @staticmethod
    def summary_of(nfe: Tensor) -> dict[str, float]:
        """Mean, 90th percentile (linear interpolation) and max of counts ``[n]``."""
        if nfe.numel() == 0:
            return {"mean": 0.0, "p90": 0.0, "max": 0.0}
        nfe = nfe.double()
        return {
            "mean": float(nfe.mean()),
            "p90": float(torch.quantile(nfe, 0.9)),
            "max": float(nfe.max()),
        }


@dataclass(frozen=True)
class SolveStats:
    """The statistics of one solve, forward or backward.

    Attributes:
        nfe: evaluations of the vector field on the whole state (a batch evaluation
            counts once, whatever the batch size).
        accepted: accepted steps; with per-sample stepping, those of the sample that
            took the most steps (the one that set the solve's length).
        rejected: rejected steps, counted the same way.
        per_sample: each sample's counts, or ``None`` when the solve's state has no
            batch dimension (the adjoint's backward state, a dict state).
    """

    nfe: int = 0
    accepted: int = 0
    rejected: int = 0
    per_sample: PerSampleStats | None = None

    def __add__(self, other: SolveStats) -> SolveStats:
        """Counts of two solves of one direction (per-sample counts are not added)."""
        if not isinstance(other, SolveStats):
            return NotImplemented
        return SolveStats(
            self.nfe + other.nfe,
            self.accepted + other.accepted,
            self.rejected + other.rejected,
        )


class Solution(NamedTuple):
    """A solve's states at the requested times and its forward statistics.

    Attributes:
        ys: ``[len(t), *z0.shape]`` (a dict of such tensors for torchdyn's dict states).
        stats: the forward solve's :class:`SolveStats`.
    """

    ys: Any
    stats: SolveStats
