"""Solve statistics: evaluations (NFE) and steps, immutable records and the tally behind them."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["NFERecord", "NFETally", "SolveStatistics", "StepRecord"]


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


class NFETally:
    """Mutable counts behind a model's :class:`NFERecord`; one per model.

    The model's ``CountedField`` increments them, the only place evaluations happen.
    An evaluation is *forward* when it is made inside the model's own forward solve
    (the model sets :attr:`solving` around it) and *backward* otherwise: the adjoint
    methods evaluate the field from the autograd engine, after the solve returned.
    This needs no cooperation from the solver library and no private torch API.

    Args:
        max_evaluations_per_solve: a solve, forward or backward, that makes more
            evaluations than this is stopped with ``NFEBudgetExceeded``. ``None`` means
            no budget.
    """

    __slots__ = (
        "backward",
        "forward",
        "limit",
        "solve_backward",
        "solve_forward",
        "solving",
        "steps",
    )

    def __init__(self, max_evaluations_per_solve: int | None = None) -> None:
        # An int compared on every evaluation: cheaper than testing for None each time.
        self.limit = sys.maxsize if max_evaluations_per_solve is None else max_evaluations_per_solve
        self.forward = 0
        self.backward = 0
        self.solve_forward = 0
        self.solve_backward = 0
        self.solving = False
        # Accepted and rejected steps: forward accepted, forward rejected, backward ...
        self.steps = [0, 0, 0, 0]

    def start_solve(self) -> None:
        """Begin a forward solve: the budget applies to each solve separately."""
        self.solve_forward = 0

    @contextlib.contextmanager
    def forward_solve(self) -> Iterator[None]:
        """Evaluations inside this block are forward ones; all others are backward."""
        self.solving = True
        try:
            yield
        finally:
            self.solving = False

    def start_backward_solve(self) -> None:
        """Begin the backward (adjoint) solve of one forward solve."""
        self.solve_backward = 0

    def step(self, accepted: bool) -> None:
        """Count one step of the current solve, forward or backward."""
        self.steps[(0 if self.solving else 2) + (0 if accepted else 1)] += 1

    def reset(self) -> None:
        """Zero every count."""
        self.forward = self.backward = self.solve_forward = self.solve_backward = 0
        self.steps = [0, 0, 0, 0]

    def save(self) -> tuple:
        """The counts, for :meth:`restore`."""
        return self.forward, self.backward, self.solve_forward, self.solve_backward, *self.steps

    def restore(self, saved: tuple) -> None:
        """Put back counts returned by :meth:`save`."""
        self.forward, self.backward, self.solve_forward, self.solve_backward = saved[:4]
        self.steps = list(saved[4:])

    def record(self) -> NFERecord:
        """An immutable snapshot of the counts."""
        return NFERecord(self.forward, self.backward)

    def step_record(self) -> StepRecord:
        """An immutable snapshot of the step counts."""
        return StepRecord(*self.steps)


class SolveStatistics:
    """A model's evaluations and steps, read from its :class:`NFETally` ``_tally``."""

    _tally: NFETally

    @property
    def nfe(self) -> NFERecord:
        """Vector-field evaluations since the last :meth:`reset_nfe`, forward and backward."""
        return self._tally.record()

    @property
    def steps(self) -> StepRecord:
        """Accepted and rejected solver steps since the last :meth:`reset_nfe`."""
        return self._tally.step_record()

    def reset_nfe(self) -> None:
        """Zero the NFE and step counts."""
        self._tally.reset()

    @contextlib.contextmanager
    def uncounted(self) -> Iterator[None]:
        """Leave the evaluations and steps made inside this block out of the records.

        For diagnostics that are not part of the cost being measured (feature
        snapshots, plots): the counts are restored when the block exits.

        Example:
            >>> with model.uncounted():
            ...     phi = model.features(x)
        """
        saved = self._tally.save()
        try:
            yield
        finally:
            self._tally.restore(saved)
