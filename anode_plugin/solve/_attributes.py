"""The solve's options as attributes of a model, under torchdyn ``NeuralODE``'s names."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from .._validation import check_choice
from . import _defaults as defaults
from ._autograd import Autograd
from ._options import gradient_of
from ._solve import Solve

__all__ = ["SolveAttributes"]


class SolveAttributes:
    """The solve's options under torchdyn ``NeuralODE``'s attribute names, read-only.

    Each has the same type whatever the backend: the objects in :attr:`solve` hold them.
    """

    solve: Solve

    def _rebuild(self, part: str, **changes: Any) -> None:
        """Replace the solve's ``part`` (``"backend"`` or ``"gradient"``) by a copy with
        ``changes``; the copy's constructor checks them."""
        self.solve = replace(self.solve, **{part: replace(getattr(self.solve, part), **changes)})

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
        self._rebuild("backend", solver=value)

    @property
    def atol(self) -> float:
        """The forward solve's absolute tolerance; settable (the solve is rebuilt)."""
        return self.solve.backend.atol

    @atol.setter
    def atol(self, value: float) -> None:
        self._rebuild("backend", atol=value)

    @property
    def rtol(self) -> float:
        """The forward solve's relative tolerance; settable (the solve is rebuilt)."""
        return self.solve.backend.rtol

    @rtol.setter
    def rtol(self, value: float) -> None:
        self._rebuild("backend", rtol=value)

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
        self._rebuild("gradient", atol=value)

    @property
    def rtol_adjoint(self) -> float | None:
        """The backward solve's relative tolerance (``None`` with autograd); settable."""
        return getattr(self.solve.gradient, "rtol", None)

    @rtol_adjoint.setter
    def rtol_adjoint(self, value: float) -> None:
        self._rebuild("gradient", rtol=value)

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
