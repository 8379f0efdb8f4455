"""A solve: a backend and a gradient method, built from objects or from flat options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from .._nfe import NFETally
from .._validation import check_choice, check_tolerances_resolvable
from ._adjoint import Adjoint
from ._autograd import Autograd
from ._backend import Backend
from ._interpolated import InterpolatedAdjoint
from ._norms import FULL_NORM, ErrorNorm
from ._torchdiffeq import TorchdiffeqBackend
from ._torchdyn import TorchdynBackend

__all__ = [
    "BACKEND_TYPES",
    "Solve",
    "SolveAttributes",
    "resolve_solve",
    "solve_from_options",
]

#: Backend name -> class: a new backend is one more entry.
BACKEND_TYPES: dict[str, type[Backend]] = {
    TorchdynBackend.name: TorchdynBackend,
    TorchdiffeqBackend.name: TorchdiffeqBackend,
}
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

    backend: Backend = field(default_factory=TorchdynBackend)
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
        solver = getattr(self.gradient, "solver", None)
        if isinstance(solver, str):
            check_choice("solver_adjoint", solver, self.backend.SOLVERS)
        elif isinstance(solver, nn.Module) and self.backend.name != "torchdyn":
            raise TypeError(
                f"A solver module as the adjoint's `solver` needs the torchdyn backend; "
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
        tally: NFETally,
        norm: ErrorNorm = FULL_NORM,
        integral_loss: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> Tensor:
        """Solve ``dz/dt = field(t, z)`` from ``z0``: the states at ``t``, ``[len(t), ...]``.

        ``integral_loss`` ``g(t, z)`` (adjoints only) adds the gradients of its integral
        over the solve, as torchdyn's ``integral_loss`` does."""
        return self.gradient.solve(
            self.backend, field, z0, t, norm=norm, tally=tally, integral_loss=integral_loss
        )


def solve_from_options(
    *,
    backend: str,
    solver: str | nn.Module,
    atol: float,
    rtol: float,
    sensitivity: str,
    solver_adjoint: str | nn.Module | None,
    atol_adjoint: float,
    rtol_adjoint: float,
    seminorm: bool | None,
    solver_options: dict[str, Any] | None,
    interpolator: str | None = None,
) -> Solve:
    """The :class:`Solve` of ``AugmentedNeuralODE``'s flat keyword arguments."""
    backend = check_choice("backend", backend, BACKEND_TYPES)
    backend_type = BACKEND_TYPES[backend]
    if not (backend == "torchdyn" and isinstance(solver, nn.Module)):
        check_choice("solver", solver, backend_type.SOLVERS)
    if solver_adjoint is not None and not (
        backend == "torchdyn" and isinstance(solver_adjoint, nn.Module)
    ):
        check_choice("solver_adjoint", solver_adjoint, backend_type.SOLVERS)
    sensitivity = check_choice("sensitivity", sensitivity, backend_type.SENSITIVITIES)
    if solver_options is not None and backend != "torchdiffeq":
        raise ValueError(
            "`solver_options` are passed to torchdiffeq; they need backend='torchdiffeq', "
            f"got backend={backend!r}."
        )
    options = {} if solver_options is None else {"options": dict(solver_options)}
    if interpolator is not None:
        if backend != "torchdyn":
            raise ValueError(
                f"`interpolator` is torchdyn's dense output; it needs backend='torchdyn', got "
                f"backend={backend!r} (torchdiffeq interpolates its adaptive solvers itself)."
            )
        options["interpolator"] = interpolator
    engine = backend_type(solver, atol, rtol, **options)
    adjoint = {"solver": solver_adjoint, "atol": atol_adjoint, "rtol": rtol_adjoint}
    if sensitivity == "autograd":
        gradient: Gradient = Autograd()
    elif sensitivity == "adjoint":
        gradient = Adjoint(**adjoint, seminorm=seminorm)
    else:
        gradient = InterpolatedAdjoint(**adjoint)
    return Solve(engine, gradient)


_DEFAULTS = {
    "backend": "torchdyn",
    "solver": "dopri5",
    "atol": 1e-3,
    "rtol": 1e-3,
    "sensitivity": "autograd",
    "solver_adjoint": None,
    "atol_adjoint": 1e-4,
    "rtol_adjoint": 1e-4,
    "seminorm": None,
    "solver_options": None,
    "interpolator": None,
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
        """The forward solve's solver, as given."""
        return self.solve.backend.solver

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
        """The gradient method's name."""
        return self.solve.sensitivity

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
