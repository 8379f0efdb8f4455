"""Number of function evaluations (NFE): an immutable record and the tally behind it."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

__all__ = ["NFERecord", "NFETally", "in_backward_pass"]

# -1 outside the autograd engine; a task id while `backward()` runs.
_current_graph_task_id = torch._C._current_graph_task_id


def in_backward_pass() -> bool:
    """Whether the calling code runs inside the autograd engine's backward pass.

    The adjoint methods of torchdyn and torchdiffeq evaluate the vector field from
    an ``autograd.Function.backward``; the engine then has a current graph task.
    This is how an evaluation is told apart as "backward" without any cooperation
    from the solver library.
    """
    return _current_graph_task_id() != -1


@dataclass(frozen=True)
class NFERecord:
    """Vector-field evaluations, forward and backward apart.

    Records add up, so the cost of several ODE blocks is ``sum(records, NFERecord())``.

    Attributes:
        forward: evaluations made outside gradient computation (the solve itself).
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

    Args:
        max_forward_per_solve: a solve that makes more forward evaluations than this is
            stopped with ``NFEBudgetExceeded``. ``None`` means no budget.
    """

    __slots__ = ("backward", "forward", "limit", "solve_forward")

    def __init__(self, max_forward_per_solve: int | None = None) -> None:
        # An int compared on every evaluation: cheaper than testing for None each time.
        self.limit = sys.maxsize if max_forward_per_solve is None else max_forward_per_solve
        self.forward = 0
        self.backward = 0
        self.solve_forward = 0

    def start_solve(self) -> None:
        """Begin a new solve: the budget applies to each solve separately."""
        self.solve_forward = 0

    def reset(self) -> None:
        """Zero every count."""
        self.forward = self.backward = self.solve_forward = 0

    def save(self) -> tuple[int, int, int]:
        """The counts, for :meth:`restore`."""
        return self.forward, self.backward, self.solve_forward

    def restore(self, saved: tuple[int, int, int]) -> None:
        """Put back counts returned by :meth:`save`."""
        self.forward, self.backward, self.solve_forward = saved

    def record(self) -> NFERecord:
        """An immutable snapshot of the counts."""
        return NFERecord(self.forward, self.backward)
