"""The torchdiffeq backend: torchdiffeq's ``odeint`` and ``odeint_adjoint``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torchdiffeq
from torch import Tensor, nn
from torchdiffeq._impl.odeint import SOLVERS as _TORCHDIFFEQ_SOLVERS

from .._errors import StepSizeUnderflowError
from .._nfe import NFETally
from .._validation import check_choice, check_positive_float
from ._backend import Backend
from ._backsolve import backsolve_adjoint
from ._norms import ErrorNorm

__all__ = ["TorchdiffeqBackend"]


class _CountedSteps:
    """``f(t, z)`` with torchdiffeq's step callbacks, for the ones the solver supports.

    torchdiffeq calls ``callback_accept_step``/``callback_reject_step`` on adaptive
    solvers and ``callback_step`` on fixed-grid ones (``_adjoint`` variants in the
    backward solve); it warns about callbacks a solver does not support.
    """

    def __init__(self, field: Any, tally: NFETally, method: str, adjoint_method: str) -> None:
        self._field = field
        for suffix, name in (("", method), ("_adjoint", adjoint_method)):
            valid = _TORCHDIFFEQ_SOLVERS[name].valid_callbacks()
            if "callback_accept_step" in valid:
                setattr(self, "callback_accept_step" + suffix, lambda *_: tally.step(True))
                setattr(self, "callback_reject_step" + suffix, lambda *_: tally.step(False))
            elif "callback_step" in valid:
                setattr(self, "callback_step" + suffix, lambda *_: tally.step(True))

    def __call__(self, t: Tensor, z: Tensor) -> Tensor:
        return self._field(t, z)


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

    solver: str = "dopri5"
    atol: float = 1e-3
    rtol: float = 1e-3
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
        norm: ErrorNorm,
        tally: NFETally,
        solver: Any = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> Tensor:
        method = self.solver if solver is None else solver
        with _underflow_as_error():
            return torchdiffeq.odeint(
                _CountedSteps(field, tally, method, method),
                z0,
                t,
                rtol=self.rtol if rtol is None else rtol,
                atol=self.atol if atol is None else atol,
                method=method,
                options=self._options(norm),
            )

    def library_adjoint(
        self,
        gradient: Any,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm,
        tally: NFETally,
        integral_loss: Any = None,
    ) -> Tensor:
        """torchdiffeq's adjoint; its backward error norm is the full one unless
        ``gradient.seminorm``. An integral loss runs our backsolve adjoint on torchdiffeq's
        solvers (torchdiffeq's adjoint has no term for one)."""
        if integral_loss is not None:
            return backsolve_adjoint(self, gradient, field, z0, t, norm, tally, integral_loss)
        method = gradient.solver or self.solver
        with _underflow_as_error():
            return torchdiffeq.odeint_adjoint(
                _CountedSteps(field, tally, self.solver, method),
                z0,
                t,
                rtol=self.rtol,
                atol=self.atol,
                method=self.solver,
                options=self._options(norm),
                adjoint_rtol=gradient.rtol,
                adjoint_atol=gradient.atol,
                adjoint_method=method,
                adjoint_options={"norm": "seminorm"} if gradient.seminorm else None,
                adjoint_params=tuple(field.parameters()),
            )


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
