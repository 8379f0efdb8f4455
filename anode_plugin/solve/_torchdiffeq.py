"""The torchdiffeq backend: torchdiffeq's ``odeint`` and ``odeint_adjoint``."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torchdiffeq
from torch import Tensor, nn
from torchdiffeq._impl.odeint import SOLVERS as _TORCHDIFFEQ_SOLVERS

from .._errors import StepSizeUnderflowError
from .._validation import check_choice, check_positive_float
from ._backend import AdjointSupport, Backend, LibraryAdjoint
from ._defaults import ATOL, RTOL, SOLVER
from ._evaluations import NO_LIMITS, AdjointCounters, Limits
from ._norms import FULL_NORM, ErrorNorm
from ._statistics import Solution

__all__ = ["TorchdiffeqBackend"]


class _CountedSteps:
    """``f(t, z)`` with torchdiffeq's step callbacks, for the ones the solver supports.

    torchdiffeq calls ``callback_accept_step``/``callback_reject_step`` on adaptive
    solvers and ``callback_step`` on fixed-grid ones (``_adjoint`` variants in the
    backward solve, with ``adjoint_method``); it warns about callbacks a solver does not
    support. Evaluations and steps go to ``counter``: an :class:`Evaluations`, or the
    :class:`AdjointCounters` of an adjoint, which tell the directions apart.
    """

    def __init__(self, counter: Any, method: str, adjoint_method: str | None = None) -> None:
        self.counter = counter
        methods = [("", method)] + ([("_adjoint", adjoint_method)] if adjoint_method else [])
        for suffix, name in methods:
            valid = _TORCHDIFFEQ_SOLVERS[name].valid_callbacks()
            if "callback_accept_step" in valid:
                setattr(self, "callback_accept_step" + suffix, lambda *_: counter.step(True))
                setattr(self, "callback_reject_step" + suffix, lambda *_: counter.step(False))
            elif "callback_step" in valid:
                setattr(self, "callback_step" + suffix, lambda *_: counter.step(True))

    def __call__(self, t: Tensor, z: Tensor) -> Tensor:
        return self.counter(t, z)


@dataclass(frozen=True)
class TorchdiffeqBackend(Backend):
    """Solves with torchdiffeq.

    Args:
        solver: a method name from :attr:`SOLVERS`.
        atol: absolute tolerance of adaptive solvers.
        rtol: relative tolerance of adaptive solvers.
        options: extra options of torchdiffeq's ``odeint`` (e.g. ``{"step_size": 0.1}``
            for fixed-step methods).
    """

    name: ClassVar[str] = "torchdiffeq"
    SOLVERS: ClassVar[tuple[str, ...]] = tuple(_TORCHDIFFEQ_SOLVERS)
    SENSITIVITIES: ClassVar[tuple[str, ...]] = ("autograd", "adjoint")
    #: torchdiffeq's adjoint takes any forward norm and either backward norm (its own
    #: default the full one), but has no term for an integral loss: ours runs that.
    ADJOINTS: ClassVar[AdjointSupport] = AdjointSupport(
        seminorm=False, library_seminorms=(None, True, False), library_forward_norms=True
    )
    OPTIONS: ClassVar[dict[str, str]] = {"solver_options": "are passed to torchdiffeq"}

    solver: str = SOLVER
    atol: float = ATOL
    rtol: float = RTOL
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("solver", self.solver, self.SOLVERS)
        check_positive_float("atol", self.atol)
        check_positive_float("rtol", self.rtol)
        if not isinstance(self.options, dict) or not all(isinstance(k, str) for k in self.options):
            raise TypeError(
                "`options` must be a dict of torchdiffeq's odeint options by name, e.g. "
                f'{{"step_size": 0.1}}, got {self.options!r}.'
            )
        # torchdiffeq only warns about an option its solver does not take (a misspelt
        # `stepsize` was silently a default step): refuse it, naming the solver's own.
        allowed = _solver_options(self.solver)
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            raise ValueError(
                f"`solver_options` {unknown} are not options of torchdiffeq's "
                f"{self.solver!r}; it takes {list(allowed)}."
            )

    @classmethod
    def from_options(
        cls, solver: str | nn.Module, atol: float, rtol: float, **options: Any
    ) -> TorchdiffeqBackend:
        extra = options.pop("solver_options", None)
        return cls(solver, atol, rtol, **options, options=dict(extra or {}))

    def _options(self, norm: ErrorNorm) -> dict[str, Any] | None:
        if norm.is_full:
            return dict(self.options) or None
        return {**self.options, "norm": norm}

    def integrate(
        self,
        field: Any,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm = FULL_NORM,
        limits: Limits = NO_LIMITS,
        solver: Any = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> Solution:
        method = self.solver if solver is None else solver
        counted = self.counter(field, t, limits)
        with _underflow_as_error():
            sol = torchdiffeq.odeint(
                _CountedSteps(counted, method),
                z0,
                t,
                rtol=self.rtol if rtol is None else rtol,
                atol=self.atol if atol is None else atol,
                method=method,
                options=self._options(norm),
            )
        return Solution(sol, counted.joint_stats(z0))

    def library_adjoint(
        self,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm,
        limits: Limits,
        solver: Any,
        atol: float,
        rtol: float,
        seminorm: bool | None,
    ) -> LibraryAdjoint:
        """torchdiffeq's adjoint; its backward error norm is the full one unless
        ``seminorm``."""
        method = solver or self.solver
        counters = AdjointCounters(field, t, limits)
        with _underflow_as_error():
            sol = torchdiffeq.odeint_adjoint(
                _CountedSteps(counters, self.solver, method),
                z0,
                t,
                rtol=self.rtol,
                atol=self.atol,
                method=self.solver,
                options=self._options(norm),
                adjoint_rtol=rtol,
                adjoint_atol=atol,
                adjoint_method=method,
                adjoint_options={"norm": "seminorm"} if seminorm else None,
                adjoint_params=tuple(field.parameters()),
            )
        counters.to_backward()  # torchdiffeq's backward solve evaluates the same object
        solution = Solution(sol, counters.forward_counter.joint_stats(z0))
        return LibraryAdjoint(solution, counters.backward_counter)


def _solver_options(method: str) -> tuple[str, ...]:
    """The keyword options torchdiffeq's ``method`` takes (its classes' ``__init__``s)."""
    names = {"norm"}  # odeint's own, for the adaptive solvers' error norm
    for cls in _TORCHDIFFEQ_SOLVERS[method].__mro__:
        if "__init__" in cls.__dict__:
            names |= set(inspect.signature(cls.__dict__["__init__"]).parameters)
    taken = ("self", "func", "y0", "rtol", "atol", "args", "kwargs", "unused_kwargs")
    return tuple(sorted(names - set(taken)))


class _underflow_as_error:
    """torchdiffeq reports a collapsed step size with a bare ``assert``: a clear error."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        if kind is AssertionError and "underflow" in str(error):
            raise StepSizeUnderflowError(
                f"torchdiffeq stopped the solve: {error}. The step size collapsed because the "
                "flow is too stiff or the state became NaN or infinite; try looser "
                "tolerances, more augmented dimensions, weight decay or a lower learning rate."
            ) from error
        return False
