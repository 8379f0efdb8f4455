"""A solve: a backend and a gradient method, checked together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .._errors import NonFiniteStateError, SolverError
from .._validation import check_choice, check_t_span, check_tolerances_resolvable
from ._adjoint import AbstractAdjoint, Adjoint
from ._autograd import Autograd
from ._backend import Backend
from ._evaluations import NO_LIMITS, Limits
from ._interpolated import InterpolatedAdjoint
from ._library import RecordBackward
from ._native import NativeBackend
from ._norms import FULL_NORM, ErrorNorm
from ._registry import BACKEND_TYPES, backends_taking
from ._statistics import Solution

__all__ = ["BACKEND_TYPES", "GRADIENT_TYPES", "Gradient", "Solve", "backends_taking"]


Gradient = Autograd | Adjoint | InterpolatedAdjoint
GRADIENT_TYPES = (Autograd, Adjoint, InterpolatedAdjoint)


def _not_an_instance(argument: str, expected: str, value: object) -> TypeError:
    """The error for a ``Solve`` argument that is not an instance (often the class itself)."""
    if isinstance(value, type):
        got = f"the class {value.__name__}"
    elif isinstance(value, str):
        got = f"a {type(value).__name__} {value!r}"
    else:
        got = f"a {type(value).__name__}"
    return TypeError(f"`{argument}` must be {expected}, got {got}.")


@dataclass(frozen=True)
class Solve:
    """How an ODE is solved: a backend (library, solver, tolerances) and a gradient method.

    Args:
        backend: e.g. ``TorchdynBackend("dopri5", atol=1e-3, rtol=1e-3)``.
        gradient: ``Autograd()``, ``Adjoint(...)`` or ``InterpolatedAdjoint(...)``.

    Example:
        >>> from anode_plugin.solve import Adjoint, Solve, TorchdiffeqBackend
        >>> solve = Solve(TorchdiffeqBackend("dopri5"), Adjoint(seminorm=True))
        >>> solve.sensitivity
        'adjoint'
    """

    backend: Backend = field(default_factory=NativeBackend)
    gradient: Gradient = field(default_factory=Autograd)

    def __post_init__(self) -> None:
        if not isinstance(self.backend, Backend):
            backends = [t.__name__ + "()" for t in BACKEND_TYPES.values()]
            expected = f"a Backend instance, e.g. one of {backends}"
            raise _not_an_instance("backend", expected, self.backend)
        if not isinstance(self.gradient, GRADIENT_TYPES):
            gradients = [t.__name__ + "(...)" for t in GRADIENT_TYPES]
            expected = f"a gradient method instance, one of {gradients}"
            raise _not_an_instance("gradient", expected, self.gradient)
        check_choice("sensitivity", self.gradient.sensitivity, self.backend.SENSITIVITIES)
        solver = self.gradient.solver if isinstance(self.gradient, AbstractAdjoint) else None
        if isinstance(solver, str):
            check_choice("solver_adjoint", solver, self.backend.SOLVERS)
        elif isinstance(solver, nn.Module) and not self.backend.SOLVER_MODULES:
            takers = " or ".join(backends_taking("solver_modules"))
            raise TypeError(
                f"A solver module as the adjoint's `solver` needs the {takers} backend; "
                f"backend={self.backend.name!r} takes a name from {list(self.backend.SOLVERS)}."
            )

    @property
    def sensitivity(self) -> str:
        """The gradient method's name, as in ``AugmentedNeuralODE(sensitivity=...)``."""
        return self.gradient.sensitivity

    def check_resolvable(self, dtype: torch.dtype) -> None:
        """Refuse tolerances finer than ``dtype`` can resolve: the solve would never end."""
        pairs = [("atol", self.backend.atol, "rtol", self.backend.rtol)]
        if not isinstance(self.gradient, Autograd):
            pairs.append(("atol_adjoint", self.gradient.atol, "rtol_adjoint", self.gradient.rtol))
        check_tolerances_resolvable(pairs, dtype)

    def __call__(
        self,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm = FULL_NORM,
        limits: Limits = NO_LIMITS,
        integral_loss: Callable[[Tensor, Tensor], Tensor] | None = None,
        record_backward: RecordBackward | None = None,
    ) -> Solution:
        """Solve ``dz/dt = field(t, z)`` from ``z0``.

        Args:
            field: ``f(t, z)``.
            z0: the initial state, ``[batch, ...]`` (any shape).
            t: the times, 1-D and strictly monotonic.
            norm: the forward solve's error norm.
            limits: each solve's budget, and the module its errors name.
            integral_loss: ``g(t, z)`` (adjoints only): the gradients of its integral over
                the solve are added, as torchdyn's ``integral_loss`` does.
            record_backward: receives the statistics of each backward solve when it ends.

        Returns:
            The states at ``t``, ``[len(t), *z0.shape]``, and the forward statistics.
        """
        # A degenerate or unordered `t` would send an adaptive solver into an endless loop.
        check_t_span(t, name="t")
        if not isinstance(norm, ErrorNorm):
            raise TypeError(
                f"`norm` must be an ErrorNorm (ErrorNorm() for the full RMS norm, "
                f"ErrorNorm(entries=k) for a seminorm), got {norm!r}."
            )
        if not isinstance(limits, Limits):
            raise TypeError(f"`limits` must be a Limits, got {limits!r}.")
        try:
            return self.gradient.solve(
                self.backend,
                field,
                z0,
                t,
                norm=norm,
                limits=limits,
                integral_loss=integral_loss,
                record_backward=record_backward,
            )
        except SolverError as error:
            # Checked only once a solve has failed: a non-finite `z0` is the first cause
            # to name, and costs nothing in a solve that works.
            if isinstance(z0, Tensor) and not bool(torch.isfinite(z0.detach()).all()):
                bad = int((~torch.isfinite(z0.detach())).sum())
                raise NonFiniteStateError(
                    f"`z0` contains NaN or infinite values ({bad} of {z0.numel()} entries), "
                    "so the solve could not proceed. Check the input data (and any layer "
                    "before the ODE)."
                ) from error
            raise
