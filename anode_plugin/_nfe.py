"""A model's solve statistics: evaluations (NFE) and steps, as immutable records."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .solve._statistics import PerSampleStats, SolveStats

__all__ = ["ModelStats", "NFERecord", "SolveStatistics", "StepRecord"]


@dataclass(frozen=True)
class NFERecord:
    """Vector-field evaluations, forward and backward apart.

    Records add up, so the cost of several ODE blocks is ``sum(records, NFERecord())``.

    Attributes:
        forward: evaluations made by the forward solves.
        backward: evaluations made while gradients were computed (adjoint solves).
    """

    forward: int = 0
    backward: int = 0

    @property
    def total(self) -> int:
        """``forward + backward``."""
        return self.forward + self.backward

    def __add__(self, other: NFERecord) -> NFERecord:
        if not isinstance(other, NFERecord):
            return NotImplemented
        return NFERecord(self.forward + other.forward, self.backward + other.backward)

    def __sub__(self, other: NFERecord) -> NFERecord:
        if not isinstance(other, NFERecord):
            return NotImplemented
        return NFERecord(self.forward - other.forward, self.backward - other.backward)

    def as_dict(self) -> dict[str, int]:
        """``{"forward": ..., "backward": ..., "total": ...}``."""
        return {"forward": self.forward, "backward": self.backward, "total": self.total}


@dataclass(frozen=True)
class StepRecord:
    """Steps taken by a model's solves, forward and backward apart.

    An adaptive solver tries a step, estimates its error and accepts it, or rejects it
    and tries again with a smaller one; each try costs evaluations. Fixed-step solvers
    accept every step. Records add up like :class:`NFERecord`.

    Attributes:
        forward_accepted: accepted steps of the forward solves.
        forward_rejected: rejected steps of the forward solves.
        backward_accepted: accepted steps of the backward (adjoint) solves.
        backward_rejected: rejected steps of the backward (adjoint) solves.
    """

    forward_accepted: int = 0
    forward_rejected: int = 0
    backward_accepted: int = 0
    backward_rejected: int = 0

    @property
    def accepted(self) -> int:
        """Accepted steps, forward and backward."""
        return self.forward_accepted + self.backward_accepted

    @property
    def rejected(self) -> int:
        """Rejected steps, forward and backward."""
        return self.forward_rejected + self.backward_rejected

    def __add__(self, other: StepRecord) -> StepRecord:
        if not isinstance(other, StepRecord):
            return NotImplemented
        return StepRecord(
            self.forward_accepted + other.forward_accepted,
            self.forward_rejected + other.forward_rejected,
            self.backward_accepted + other.backward_accepted,
            self.backward_rejected + other.backward_rejected,
        )

    def as_dict(self) -> dict[str, int]:
        """The four counts and the two totals."""
        return {
            "forward_accepted": self.forward_accepted,
            "forward_rejected": self.forward_rejected,
            "backward_accepted": self.backward_accepted,
            "backward_rejected": self.backward_rejected,
            "accepted": self.accepted,
            "rejected": self.rejected,
        }


@dataclass(frozen=True)
class ModelStats:
    """A model's solve statistics since its last ``reset_nfe``.

    Attributes:
        nfe: evaluations, forward and backward (the model's :attr:`nfe`).
        steps: accepted and rejected steps (the model's :attr:`steps`).
        last: the statistics of the last forward solve; ``None`` before the first.
    """

    nfe: NFERecord = NFERecord()
    steps: StepRecord = StepRecord()
    last: SolveStats | None = None

    @property
    def per_sample(self) -> PerSampleStats | None:
        """Evaluations and steps of each input of the last forward solve, ``[batch]``
        each (every input the batch's counts where the batch was solved as one system);
        ``None`` before the first solve or for a state without a batch dimension."""
        return None if self.last is None else self.last.per_sample

    def forward(self, stats: SolveStats) -> ModelStats:
        """These statistics and a forward solve's."""
        steps = StepRecord(stats.accepted, stats.rejected)
        return ModelStats(self.nfe + NFERecord(stats.nfe, 0), self.steps + steps, stats)

    def backward(self, stats: SolveStats) -> ModelStats:
        """These statistics and a backward solve's."""
        steps = StepRecord(0, 0, stats.accepted, stats.rejected)
        return ModelStats(self.nfe + NFERecord(0, stats.nfe), self.steps + steps, self.last)


class SolveStatistics:
    """A model's evaluations and steps: the statistics its solves return, added up.

    The model records each forward solve's statistics when it returns and each
    backward solve's when the gradient computation has run it; ``vf.nfe`` is torchdyn's
    count: every call of the vector field, in a solve or made directly
    (``model.vf(t, x)``).
    """

    _statistics: ModelStats
    vf: Any  # the model's vector field, whose ``nfe`` is torchdyn's count

    @property
    def stats(self) -> ModelStats:
        """All statistics since the last :meth:`reset_nfe`, with the last solve's per sample."""
        return self._statistics

    @property
    def nfe(self) -> NFERecord:
        """Vector-field evaluations since the last :meth:`reset_nfe`, forward and backward.

        ``model.nfe = 0``, as torchdyn's tutorials write it, resets the counts."""
        return self._statistics.nfe

    @nfe.setter
    def nfe(self, value: object) -> None:
        if isinstance(value, bool) or not (value == 0 or value == NFERecord()):
            raise ValueError(
                "`nfe` counts the solves' evaluations: it can only be reset, with "
                f"model.nfe = 0 or model.reset_nfe(); got model.nfe = {value!r}."
            )
        self.reset_nfe()

    @property
    def steps(self) -> StepRecord:
        """Accepted and rejected solver steps since the last :meth:`reset_nfe`."""
        return self._statistics.steps

    def reset_nfe(self) -> None:
        """Zero the NFE and step counts."""
        self._statistics = ModelStats()
        self.vf.nfe = 0

    def _record_forward(self, stats: SolveStats) -> None:
        self._statistics = self._statistics.forward(stats)

    def _record_backward(self, stats: SolveStats) -> None:
        self._statistics = self._statistics.backward(stats)

    @contextlib.contextmanager
    def uncounted(self) -> Iterator[None]:
        """Leave the evaluations and steps made inside this block out of the records.

        For diagnostics that are not part of the cost being measured (feature
        snapshots, plots): the counts are restored when the block exits.

        Example:
            >>> with model.uncounted():
            ...     phi = model.features(x)
        """
        saved, field_nfe = self._statistics, self.vf.nfe
        try:
            yield
        finally:
            self._statistics, self.vf.nfe = saved, field_nfe
