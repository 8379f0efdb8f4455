"""Gradients by the adjoint method: a backward solve of the adjoint equation.

An adjoint runs the library's own adjoint where the backend declares one that computes
it (:attr:`Backend.ADJOINTS`), else our backsolve adjoint on the backend's solvers.
:class:`AbstractAdjoint` holds what every adjoint shares; each subclass says only which
adjoint runs and how it reads the library's solution.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from torch import Tensor, nn

from .._validation import check_positive_float
from ._backend import Backend, LibraryAdjoint
from ._backsolve import backsolve_adjoint
from ._defaults import ATOL_ADJOINT, RTOL_ADJOINT
from ._evaluations import Limits
from ._library import RecordBackward, run_library_adjoint
from ._norms import ErrorNorm
from ._registry import solver_names
from ._solvers import check_solver_module
from ._statistics import Solution

__all__ = ["AbstractAdjoint", "Adjoint", "LibraryRun"]

#: A library's adjoint, ready to run from an initial state.
LibraryRun = Callable[[Tensor], LibraryAdjoint]


@dataclass(frozen=True)
class AbstractAdjoint(ABC):
    """Gradients by a backward solve of the adjoint equation.

    Args:
        solver: solver of the backward solve; ``None`` for the forward solve's.
        atol: absolute tolerance of the backward solve.
        rtol: relative tolerance of the backward solve.
    """

    solver: str | nn.Module | None = None
    atol: float = ATOL_ADJOINT
    rtol: float = RTOL_ADJOINT

    #: The gradient method's name, as in ``AugmentedNeuralODE(sensitivity=...)``.
    sensitivity: ClassVar[str]

    def __post_init__(self) -> None:
        check_positive_float("atol_adjoint", self.atol)
        check_positive_float("rtol_adjoint", self.rtol)
        _check_adjoint_solver(self.solver)

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
            backend: integrates the forward and the backward solves.
            field: ``f(t, z)``; its parameters get gradients.
            z0: the initial state.
            t: the times, 1-D and strictly monotonic.
            norm: the forward solve's error norm.
            limits: each solve's budget.
            integral_loss: ``g(t, z)``, whose integral over the solve joins the loss the
                gradients are of (torchdyn's ``integral_loss``).
            record_backward: receives the backward solve's statistics when it ends.

        Returns:
            The states at the times ``t``, ``[len(t), *z0.shape]``, and the forward
            statistics.
        """
        options = {"solver": self.solver, "atol": self.atol, "rtol": self.rtol}
        run = self._library_run(backend, field, z0, t, norm, limits, integral_loss, options)
        if run is None:
            return backsolve_adjoint(
                backend,
                field,
                z0,
                t,
                norm=norm,
                limits=limits,
                seminorm=self._backsolve_seminorm(backend),
                integral_loss=integral_loss,
                record_backward=record_backward,
                **options,
            )
        solution, times = run_library_adjoint(run, field, z0, record_backward)
        return solution if times is None else self._requested(solution, times, t)

    @abstractmethod
    def _library_run(
        self,
        backend: Backend,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        norm: ErrorNorm,
        limits: Limits,
        integral_loss: Any,
        options: dict[str, Any],
    ) -> LibraryRun | None:
        """The library's adjoint that computes this one, with the backward ``options``;
        ``None``: ours runs. Raises where neither can."""

    def _backsolve_seminorm(self, backend: Backend) -> bool:
        """Whether our backsolve adjoint's backward error leaves the parameters out."""
        return backend.ADJOINTS.seminorm

    def _requested(self, solution: Solution, times: Tensor, t: Tensor) -> Solution:
        """The library's solution at the times ``t``, where it holds its rows at ``times``."""
        return solution


@dataclass(frozen=True)
class Adjoint(AbstractAdjoint):
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

    seminorm: bool | None = None

    sensitivity: ClassVar[str] = "adjoint"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seminorm is not None and not isinstance(self.seminorm, bool):
            raise ValueError(f"`seminorm` must be True, False or None, got {self.seminorm!r}.")

    def _library_run(
        self,
        backend: Backend,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        norm: ErrorNorm,
        limits: Limits,
        integral_loss: Any,
        options: dict[str, Any],
    ) -> LibraryRun | None:
        offers = backend.ADJOINTS
        # No library's adjoint has a term for an integral loss; the rest is declared.
        library = (
            integral_loss is None
            and self.seminorm in offers.library_seminorms
            and (offers.library_forward_norms or norm.is_full)
        )
        if not library:
            return None
        return partial(
            backend.library_adjoint,
            field,
            t=t,
            norm=norm,
            limits=limits,
            seminorm=self.seminorm,
            **options,
        )

    def _backsolve_seminorm(self, backend: Backend) -> bool:
        return backend.ADJOINTS.seminorm if self.seminorm is None else self.seminorm


def _check_adjoint_solver(solver: object) -> None:
    """An adjoint's ``solver``: ``None``, a torchdyn solver module, or a solver name of
    some backend (the :class:`~anode_plugin.solve.Solve` checks it is its backend's)."""
    if solver is None:
        return
    if isinstance(solver, nn.Module):
        check_solver_module("solver", solver)
        return
    names = solver_names()
    if not isinstance(solver, str) or solver not in names:
        raise ValueError(
            f"`solver` must be None, a solver module or one of {names}, got {solver!r}."
        )
