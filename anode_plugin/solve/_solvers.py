"""Solver arguments checked where they are given, before any solve."""

from __future__ import annotations

from torch import nn

__all__ = ["check_solver_module"]

# What a torchdyn solver module provides to torchdyn's `odeint`.
_SOLVER_MODULE_API = ("step", "sync_device_dtype")


def check_solver_module(name: str, solver: nn.Module) -> nn.Module:
    """``solver`` if it is a torchdyn solver module (it steps and syncs its tableau)."""
    missing = [a for a in _SOLVER_MODULE_API if not callable(getattr(solver, a, None))]
    if missing or not hasattr(solver, "stepping_class"):
        raise TypeError(
            f"`{name}` must be a solver name or a torchdyn solver module (with step(), "
            "sync_device_dtype() and stepping_class, e.g. "
            f"torchdyn.numerics.solvers.ode.Euler()), got {type(solver).__name__}."
        )
    return solver
