"""Gradients by the adjoint method: a backward solve of the adjoint equation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .._nfe import NFETally
from .._validation import check_positive_float
from ._backend import Backend
from ._norms import ErrorNorm
from ._solvers import check_adjoint_solver

__all__ = ["Adjoint"]


@dataclass(frozen=True)
class Adjoint:
    """The backsolve adjoint (Chen et al., 2018): memory flat in the number of steps,
    gradients as accurate as the backward solve's tolerances.

    Args:
        solver: solver of the backward solve; ``None`` for the forward solve's.
        atol: absolute tolerance of the backward solve.
        rtol: relative tolerance of the backward solve.
        seminorm: the backward solve's error norm. ``True``: a seminorm over the state
            and its adjoint, leaving the parameters' adjoint out (Kidger et al., 2021):
            fewer backward evaluations at the same gradients. ``False``: the full norm.
            ``None``: each library's own adjoint as it is (torchdyn 1.0.6's uses a
            seminorm, torchdiffeq's the full norm). On torchdyn, ``True`` and ``False``
            run our backsolve adjoint on torchdyn's solvers.
    """

    solver: str | nn.Module | None = None
    atol: float = 1e-4
    rtol: float = 1e-4
    seminorm: bool | None = None

    sensitivity = "adjoint"

    def __post_init__(self) -> None:
        check_positive_float("atol_adjoint", self.atol)
        check_positive_float("rtol_adjoint", self.rtol)
        check_adjoint_solver(self.solver)
        if self.seminorm is not None and not isinstance(self.seminorm, bool):
            raise ValueError(f"`seminorm` must be True, False or None, got {self.seminorm!r}.")

    def solve(
        self,
        backend: Backend,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm,
        tally: NFETally,
        integral_loss: Any = None,
    ) -> Tensor:
        """The states at the times ``t``: ``[len(t), *z0.shape]``; ``integral_loss``
        ``g(t, z)`` joins the loss the gradients are of (torchdyn's ``integral_loss``)."""
        return backend.library_adjoint(
            self, field, z0, t, norm=norm, tally=tally, integral_loss=integral_loss
        )
