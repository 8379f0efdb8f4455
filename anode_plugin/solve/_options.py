"""A solve built from ``AugmentedNeuralODE``'s flat keyword arguments, or taken ready made."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from .._validation import check_choice
from . import _defaults as defaults
from ._adjoint import Adjoint
from ._autograd import Autograd
from ._interpolated import InterpolatedAdjoint
from ._registry import BACKEND_TYPES, backends_taking
from ._solve import Gradient, Solve

__all__ = [
    "SOLVE_OPTION_DEFAULTS",
    "default_backend",
    "gradient_of",
    "resolve_solve",
    "solve_from_options",
]


def _needs(capability: str) -> str:
    names = " or ".join(f"backend={n!r}" for n in backends_taking(capability))
    return names or "a backend that takes it"


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
SOLVE_OPTION_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(solve_from_options).parameters.items()
}


def resolve_solve(solve: Solve | None, **options: Any) -> Solve:
    """``solve`` as given, else the one of the flat ``options``; never both."""
    if solve is None:
        return solve_from_options(**options)
    if not isinstance(solve, Solve):
        raise TypeError(f"`solve` must be an anode_plugin.solve.Solve, got {solve!r}.")
    changed = [k for k, v in options.items() if not _same(v, SOLVE_OPTION_DEFAULTS[k])]
    if changed:
        raise ValueError(
            "Pass either `solve` or the flat solver options, not both; got `solve` and "
            f"{', '.join(f'`{k}`' for k in changed)}."
        )
    return solve


def _same(value: Any, default: Any) -> bool:
    return value is default or (type(value) is type(default) and value == default)
