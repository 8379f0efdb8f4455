"""Number of function evaluations (NFE): an immutable record and the tally behind it."""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["NFERecord", "NFETally"]


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

    __slots__ = ("backward", "forward", "limit", "solve_backward", "solve_forward", "solving")

    def __init__(self, max_evaluations_per_solve: int | None = None) -> None:
        # An int compared on every evaluation: cheaper than testing for None each time.
        self.limit = sys.maxsize if max_evaluations_per_solve is None else max_evaluations_per_solve
        self.forward = 0
        self.backward = 0
        self.solve_forward = 0
        self.solve_backward = 0
        self.solving = False

    def start_solve(self) -> None:
        """Begin a forward solve: the budget applies to each solve separately."""
        self.solve_forward = 0

    def start_backward_solve(self) -> None:
        """Begin the backward (adjoint) solve of one forward solve."""
        self.solve_backward = 0

    def reset(self) -> None:
        """Zero every count."""
        self.forward = self.backward = self.solve_forward = self.solve_backward = 0

    def save(self) -> tuple[int, int, int, int]:
        """The counts, for :meth:`restore`."""
        return self.forward, self.backward, self.solve_forward, self.solve_backward

    def restore(self, saved: tuple[int, int, int, int]) -> None:
        """Put back counts returned by :meth:`save`."""
        self.forward, self.backward, self.solve_forward, self.solve_backward = saved

    def record(self) -> NFERecord:
        """An immutable snapshot of the counts."""
        return NFERecord(self.forward, self.backward)
