"""Exceptions raised by anode-plugin.

Each subclasses a builtin exception, so ordinary ``except ValueError`` or
``except RuntimeError`` clauses keep working.
"""

from __future__ import annotations

import functools

from torch import Tensor

__all__ = [
    "AugmentIndexError",
    "AugmentTypeError",
    "AugmentValueError",
    "NFEBudgetExceeded",
    "NonFiniteStateError",
    "SolverError",
    "StateShapeError",
    "StepSizeUnderflowError",
]


class SolverError(RuntimeError):
    """An ODE solve was stopped because it could not finish properly."""


class NFEBudgetExceeded(SolverError):
    """A solve needed more vector-field evaluations than ``max_nfe`` allows.

    The budget applies to each solve: each forward solve, and each backward (adjoint)
    solve of the gradient computation.

    Attributes:
        nfe: the number of evaluations the solve had made when it was stopped.
        budget: the ``max_nfe`` budget that was exceeded.
        direction: ``'forward'`` for a forward solve, ``'backward'`` for an adjoint solve.
        state: the partial state reached: the (augmented) state at which the solver asked
            for the evaluation over budget, detached, ``[batch, d + p, ...]``; ``None``
            when unknown.
        time: the time of ``state``, or ``None``; with per-sample stepping (torchode),
            the first sample's.
        times: with per-sample stepping, each sample's time, ``[batch]``; else ``None``.
    """

    def __init__(
        self,
        nfe: int,
        budget: int,
        direction: str = "forward",
        *,
        state: Tensor | None = None,
        time: float | None = None,
        times: Tensor | None = None,
    ) -> None:
        self.nfe = nfe
        self.budget = budget
        self.direction = direction
        self.state = state
        self.time = time
        self.times = times
        if direction == "backward":
            what = "The backward (adjoint) ODE solve"
            remedy = (
                "Try looser adjoint tolerances (larger `atol_adjoint`/`rtol_adjoint`), "
                "`seminorm=True`, sensitivity='autograd', or raise `max_nfe`."
            )
        else:
            what = "The ODE solve"
            remedy = (
                "Try looser tolerances (larger `atol`/`rtol`), more augmented dimensions "
                "(`augment_dims`), weight decay, a fixed-step solver such as 'rk4', or raise "
                "`max_nfe`."
            )
        super().__init__(
            f"{what} was stopped after {nfe} {direction} evaluations of the vector field, "
            f"over its budget max_nfe={budget}. The flow has become hard to integrate (stiff "
            f"or ill-posed). {remedy}"
        )

    def __reduce__(self):
        # Keep the exception picklable across processes (DDP, multiprocessing).
        return (
            functools.partial(type(self), state=self.state, time=self.time, times=self.times),
            (self.nfe, self.budget, self.direction),
        )


class StateShapeError(ValueError):
    """The vector field cannot be applied to the (augmented) state it was given."""


class NonFiniteStateError(SolverError):
    """The state or its derivative became NaN or infinite during a solve."""


class StepSizeUnderflowError(SolverError):
    """The solver's steps became too small to move time forward (the flow is too stiff)."""


# torchdyn's ``Augmenter`` fails inside ``forward`` with the builtin errors of list
# indexing and ``torch.zeros``; ours checks at construction. Each of our errors also
# derives from the type torchdyn raised, so a torchdyn user's ``except`` still catches it.


class AugmentIndexError(ValueError, IndexError):
    """``augment_idx`` is outside the dimensions of the input (torchdyn: ``IndexError``)."""


class AugmentTypeError(ValueError, TypeError):
    """``augment_idx`` or ``augment_dims`` is not an integer, or ``augment_func`` is not
    callable (torchdyn: ``TypeError``)."""


class AugmentValueError(ValueError, RuntimeError):
    """``augment_dims`` is negative (torchdyn: ``RuntimeError`` from ``torch.zeros``)."""
