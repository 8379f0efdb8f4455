"""Exceptions raised by anode-plugin.

Each subclasses a builtin exception, so ordinary ``except ValueError`` or
``except RuntimeError`` clauses keep working.
"""

from __future__ import annotations

__all__ = [
    "NFEBudgetExceeded",
    "NonFiniteStateError",
    "SolverError",
    "StateShapeError",
    "StepSizeUnderflowError",
]


class SolverError(RuntimeError):
    """An ODE solve was stopped because it could not finish properly."""


class NFEBudgetExceeded(SolverError):
    """A solve needed more forward vector-field evaluations than ``max_nfe`` allows.

    Attributes:
        nfe: the number of forward evaluations made when the solve was stopped.
        budget: the ``max_nfe`` budget that was exceeded.
    """

    def __init__(self, nfe: int, budget: int) -> None:
        self.nfe = nfe
        self.budget = budget
        super().__init__(
            f"The ODE solve was stopped after {nfe} forward evaluations of the vector field, "
            f"over its budget max_nfe={budget}. The flow has become hard to integrate (stiff "
            "or ill-posed). Try looser tolerances (larger `atol`/`rtol`), more augmented "
            "dimensions (`augment_dims`), weight decay, a fixed-step solver such as 'rk4', "
            "or raise `max_nfe`."
        )

    def __reduce__(self):
        # Keep the exception picklable across processes (DDP, multiprocessing).
        return (type(self), (self.nfe, self.budget))


class StateShapeError(ValueError):
    """The vector field cannot be applied to the (augmented) state it was given."""


class NonFiniteStateError(SolverError):
    """The state or its derivative became NaN or infinite during a solve."""


class StepSizeUnderflowError(SolverError):
    """The solver's steps became too small to move time forward (the flow is too stiff)."""
