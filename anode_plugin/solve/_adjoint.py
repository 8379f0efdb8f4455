"""Gradients by the adjoint method: a backward solve of the adjoint equation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .._validation import check_positive_float
from ._backend import Backend
from ._backsolve import backsolve_adjoint
from ._defaults import ATOL_ADJOINT, RTOL_ADJOINT
from ._evaluations import Limits
from ._library import RecordBackward, run_library_adjoint
from ._norms import ErrorNorm
from ._solvers import check_adjoint_solver
from ._statistics import Solution

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
            seminorm, torchdiffeq's the full norm; torchode's is ours with the full
            norm). Where the library's adjoint cannot run it (torchdyn with ``True`` or
            ``False``, integral losses), ours runs on the library's solvers.
    """

    solver: str | nn.Module | None = None
    atol: float = ATOL_ADJOINT
    rtol: float = RTOL_ADJOINT
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
        limits: Limits,
        integral_loss: Any = None,
        record_backward: RecordBackward | None = None,
    ) -> Solution:
        """The forward solve; the backward solve runs when gradients are computed.

        Args:
            integral_loss: ``g(t, z)``, whose integral over the solve joins the loss the
                gradients are of (torchdyn's ``integral_loss``).
            record_backward: receives the backward solve's statistics when it ends.

        Returns:
            The states at the times ``t``, ``[len(t), *z0.shape]``, and the forward
            statistics.
        """
        if backend.takes_library_adjoint(norm, self.seminorm, integral_loss):
            options = {"solver": self.solver, "atol": self.atol, "rtol": self.rtol}

            def run(start: Tensor) -> Any:
                return backend.library_adjoint(
                    field, start, t, norm=norm, limits=limits, seminorm=self.seminorm, **options
                )

            return run_library_adjoint(run, field, z0, record_backward)[0]
        seminorm = backend.OWN_ADJOINT_SEMINORM if self.seminorm is None else self.seminorm
        return backsolve_adjoint(
            backend,
            field,
            z0,
            t,
            norm=norm,
            limits=limits,
            solver=self.solver,
            atol=self.atol,
            rtol=self.rtol,
            seminorm=bool(seminorm),
            integral_loss=integral_loss,
            record_backward=record_backward,
        )
