"""A solve: a backend and a gradient method, built from objects or from flat options."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from .._errors import NonFiniteStateError, SolverError
from .._validation import check_choice, check_t_span, check_tolerances_resolvable
from . import _defaults as defaults
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

__all__ = [
    "BACKEND_TYPES",
    "Solve",
    "SolveAttributes",
    "backends_taking",
    "default_backend",
    "resolve_solve",
    "solve_from_options",
]


def _needs(capability: str) -> str:
    names = " or ".join(f"backend={n!r}" for n in backends_taking(capability))
    return names or "a backend that takes it"


Gradient = Autograd | Adjoint | InterpolatedAdjoint
GRADIENT_TYPES = (Autograd, Adjoint, InterpolatedAdjoint)


def _name_of(value: object) -> str:
    if isinstance(value, type):
        return value.__name__
    return f"{type(value).__name__} {value!r}" if isinstance(value, str) else type(value).__name__


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
            kind = "the class" if isinstance(self.backend, type) else "a"
            raise TypeError(
                f"`backend` must be a Backend instance, e.g. one of "
                f"{[t.__name__ + '()' for t in BACKEND_TYPES.values()]}, "
                f"got {kind} {_name_of(self.backend)}."
            )
        if not isinstance(self.gradient, GRADIENT_TYPES):
            kind = "the class" if isinstance(self.gradient, type) else "a"
            raise TypeError(
                f"`gradient` must be a gradient method instance, one of "
                f"{[t.__name__ + '(...)' for t in GRADIENT_TYPES]}, got {kind} "
                f"{_name_of(self.gradient)}."
            )
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


def default_backend(
    solver: object, solver_adjoint: object, sensitivity: object, interpolator: object
) -> str:
    """The backend that ``backend=None`` chooses for these options: the native one,
    unless they ask for what only torchdyn has (a solver module or a solver name of
    torchdyn's alone, the interpolated adjoint, an interpolator)."""
    native, torchdyn = BACKEND_TYPES[defaults.BACKEND], BACKEND_TYPES[defaults.TORCHDYN_BACKEND]

    def torchdyns(name: object) -> bool:
        if isinstance(name, nn.Module):
            return True
        return isinstance(name, str) and name not in native.SOLVERS and name in torchdyn.SOLVERS

    needs_torchdyn = (
        torchdyns(solver)
        or torchdyns(solver_adjoint)
        or (isinstance(sensitivity, str) and sensitivity not in native.SENSITIVITIES)
        or interpolator is not None
    )
    return defaults.TORCHDYN_BACKEND if needs_torchdyn else defaults.BACKEND


def solve_from_options(
    *,
    backend: str | None = None,
    solver: str | nn.Module = defaults.SOLVER,
    atol: float = defaults.ATOL,
    rtol: float = defaults.RTOL,
    sensitivity: str = defaults.SENSITIVITY,
    solver_adjoint: str | nn.Module | None = None,
    atol_adjoint: float = defaults.ATOL_ADJOINT,
    rtol_adjoint: float = defaults.RTOL_ADJOINT,
    seminorm: bool | None = None,
    solver_options: dict[str, Any] | None = None,
    interpolator: str | None = None,
) -> Solve:
    """The :class:`Solve` of ``AugmentedNeuralODE``'s flat keyword arguments.

    ``backend=None`` is the native backend, or torchdyn's where the options need it
    (:func:`default_backend`)."""
    if backend is None:
        backend = default_backend(solver, solver_adjoint, sensitivity, interpolator)
    backend = check_choice("backend", backend, BACKEND_TYPES)
    backend_type = BACKEND_TYPES[backend]
    modules = backend_type.SOLVER_MODULES
    if not (modules and isinstance(solver, nn.Module)):
        check_choice("solver", solver, backend_type.SOLVERS)
    if solver_adjoint is not None and not (modules and isinstance(solver_adjoint, nn.Module)):
        check_choice("solver_adjoint", solver_adjoint, backend_type.SOLVERS)
    sensitivity = check_choice("sensitivity", sensitivity, backend_type.SENSITIVITIES)
    extras = {"solver_options": solver_options, "interpolator": interpolator}
    extras = {k: v for k, v in extras.items() if v is not None}
    for option in extras:
        if option not in backend_type.OPTIONS:
            what = next(
                (b.OPTIONS[option] for b in BACKEND_TYPES.values() if option in b.OPTIONS),
                "is an option",
            )
            need = "they need" if what.startswith("are ") else "it needs"
            raise ValueError(
                f"`{option}` {what}; {need} {_needs(option)}, got backend={backend!r}."
            )
    engine = backend_type.from_options(solver, atol, rtol, **extras)
    adjoint = {"solver": solver_adjoint, "atol": atol_adjoint, "rtol": rtol_adjoint}
    return Solve(engine, gradient_of(sensitivity, adjoint, seminorm))


def gradient_of(sensitivity: str, adjoint: dict[str, Any], seminorm: bool | None) -> Gradient:
    """The gradient method named ``sensitivity``; an adjoint's takes the ``adjoint``
    options (``solver``, ``atol``, ``rtol``) and the backsolve adjoint ``seminorm``."""
    if sensitivity == "autograd":
        return Autograd()
    if sensitivity == "adjoint":
        return Adjoint(**adjoint, seminorm=seminorm)
    return InterpolatedAdjoint(**adjoint)


#: The flat options' defaults, read from :func:`solve_from_options` itself.
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(solve_from_options).parameters.items()
}


def resolve_solve(solve: Solve | None, **options: Any) -> Solve:
    """``solve`` as given, else the one of the flat ``options``; never both."""
    if solve is None:
        return solve_from_options(**options)
    if not isinstance(solve, Solve):
        raise TypeError(f"`solve` must be an anode_plugin.solve.Solve, got {solve!r}.")
    changed = [k for k, v in options.items() if not _same(v, _DEFAULTS[k])]
    if changed:
        raise ValueError(
            "Pass either `solve` or the flat solver options, not both; got `solve` and "
            f"{', '.join(f'`{k}`' for k in changed)}."
        )
    return solve


def _same(value: Any, default: Any) -> bool:
    return value is default or (type(value) is type(default) and value == default)


class SolveAttributes:
    """The solve's options under torchdyn ``NeuralODE``'s attribute names, read-only.

    Each has the same type whatever the backend: the objects in :attr:`solve` hold them.
    """

    solve: Solve

    @property
    def backend(self) -> str:
        """The backend's name."""
        return self.solve.backend.name

    @property
    def solver(self) -> str | nn.Module:
        """The forward solve's solver, as given; settable (the solve is rebuilt, with the
        constructor's checks), as torchdyn's tutorials do."""
        return self.solve.backend.solver

    @solver.setter
    def solver(self, value: str | nn.Module) -> None:
        self.solve = replace(self.solve, backend=replace(self.solve.backend, solver=value))

    @property
    def atol(self) -> float:
        """The forward solve's absolute tolerance; settable (the solve is rebuilt)."""
        return self.solve.backend.atol

    @atol.setter
    def atol(self, value: float) -> None:
        self.solve = replace(self.solve, backend=replace(self.solve.backend, atol=value))

    @property
    def rtol(self) -> float:
        """The forward solve's relative tolerance; settable (the solve is rebuilt)."""
        return self.solve.backend.rtol

    @rtol.setter
    def rtol(self, value: float) -> None:
        self.solve = replace(self.solve, backend=replace(self.solve.backend, rtol=value))

    @property
    def sensitivity(self) -> str:
        """The gradient method's name; settable, as torchdyn's tutorials switch it during
        training. An adjoint set so takes the adjoint options of the model's last adjoint
        (kept across a switch to autograd), else the defaults."""
        return self.solve.sensitivity

    @sensitivity.setter
    def sensitivity(self, value: str) -> None:
        current = self.solve.gradient
        check_choice("sensitivity", value, self.solve.backend.SENSITIVITIES)
        if not isinstance(current, Autograd):
            kept = ("solver", "atol", "rtol", "seminorm")
            self.__dict__["_adjoint_options"] = {k: getattr(current, k, None) for k in kept}
        last = self.__dict__.get("_adjoint_options", {})
        adjoint = {
            "solver": last.get("solver"),
            "atol": last.get("atol") or defaults.ATOL_ADJOINT,
            "rtol": last.get("rtol") or defaults.RTOL_ADJOINT,
        }
        self.solve = replace(self.solve, gradient=gradient_of(value, adjoint, last.get("seminorm")))

    @property
    def solver_adjoint(self) -> str | nn.Module | None:
        """The backward solve's solver; ``None``: the forward one's (or no backward solve)."""
        return getattr(self.solve.gradient, "solver", None)

    @property
    def atol_adjoint(self) -> float | None:
        """The backward solve's absolute tolerance (``None`` with autograd); settable."""
        return getattr(self.solve.gradient, "atol", None)

    @atol_adjoint.setter
    def atol_adjoint(self, value: float) -> None:
        self.solve = replace(self.solve, gradient=replace(self.solve.gradient, atol=value))

    @property
    def rtol_adjoint(self) -> float | None:
        """The backward solve's relative tolerance (``None`` with autograd); settable."""
        return getattr(self.solve.gradient, "rtol", None)

    @rtol_adjoint.setter
    def rtol_adjoint(self, value: float) -> None:
        self.solve = replace(self.solve, gradient=replace(self.solve.gradient, rtol=value))

    @property
    def seminorm(self) -> bool | None:
        """The adjoint's error norm (see :class:`Adjoint`)."""
        return getattr(self.solve.gradient, "seminorm", None)

    @property
    def sensalg(self) -> str:
        """torchdyn's other name of :attr:`sensitivity`."""
        return self.solve.sensitivity

    @property
    def interpolator(self) -> str | None:
        """torchdyn's dense output of the forward solve (``None``: none, or not torchdyn)."""
        return getattr(self.solve.backend, "interpolator", None)
