"""The torchdyn backend: torchdyn 1.0.6's solvers, with tableaus in the state's dtype."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torchdyn.numerics.interpolators import INTERP_DICT, str_to_interp
from torchdyn.numerics.odeint import odeint
from torchdyn.numerics.sensitivity import _gather_odefunc_adjoint
from torchdyn.numerics.solvers.ode import SOLVER_DICT, Tsitouras45, str_to_solver

from .._nfe import NFETally
from .._validation import check_choice, check_positive_float, state_leaf
from ._backend import Backend
from ._backsolve import backsolve_adjoint
from ._norms import ErrorNorm
from ._solvers import check_solver_module

__all__ = ["TorchdynBackend"]


class _CountedSteps:
    """A torchdyn solver whose step attempts are counted.

    An accepted step moves time on, a rejected one is tried again from the same time:
    the first attempt from a new time is counted accepted, each further one from that
    time is the retry of a rejected step.
    """

    def __init__(self, solver: nn.Module, tally: NFETally) -> None:
        self._solver, self._tally, self._last = solver, tally, None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._solver, name)

    def step(self, f: Any, x: Tensor, t: Tensor, dt: Tensor, **kwargs: Any) -> Any:
        time = float(t.detach())
        self._tally.step(accepted=time != self._last)
        self._last = time
        return self._solver.step(f, x, t, dt, **kwargs)


@dataclass(frozen=True)
class TorchdynBackend(Backend):
    """Solves with torchdyn.

    torchdyn builds its tableaus in float32 and casts them to the state's dtype, which
    caps float64 solves at float32 accuracy: this backend keeps one solver per dtype,
    built in that dtype.

    Args:
        solver: a name from :attr:`SOLVERS`, or a torchdyn solver module.
        atol: absolute tolerance of adaptive solvers.
        rtol: relative tolerance of adaptive solvers.
        interpolator: torchdyn's dense output for adaptive solvers, a name from
            :attr:`INTERPOLATORS` (``'4th'``): steps are not shortened to land on the times
            of ``t_span``, the states there are interpolated. ``None``: no interpolation.
            tsit5 has none, so torchdyn ignores it there, and so does this backend.
    """

    name: ClassVar[str] = "torchdyn"
    # The asynchronous leapfrog needs a second-order system, which these models are not.
    SOLVERS: ClassVar[tuple[str, ...]] = tuple(
        n for n in SOLVER_DICT if n not in ("alf", "AsynchronousLeapfrog")
    )
    SENSITIVITIES: ClassVar[tuple[str, ...]] = ("autograd", "adjoint", "interpolated_adjoint")
    INTERPOLATORS: ClassVar[tuple[str, ...]] = tuple(INTERP_DICT)

    solver: str | nn.Module = "dopri5"
    atol: float = 1e-3
    rtol: float = 1e-3
    interpolator: str | None = None
    _solvers: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.solver, nn.Module):
            check_solver_module("solver", self.solver)
        else:
            check_choice("solver", self.solver, self.SOLVERS)
        check_positive_float("atol", self.atol)
        check_positive_float("rtol", self.rtol)
        if self.interpolator is not None:
            check_choice("interpolator", self.interpolator, self.INTERPOLATORS)

    def _interpolator(self, solver: nn.Module, dtype: torch.dtype) -> Any:
        # torchdyn drops the interpolator for tsit5 by an isinstance test that our step
        # counter would hide from it: decide here, on the solver itself.
        if self.interpolator is None or isinstance(solver, Tsitouras45):
            return None
        key = ("interpolator", self.interpolator, dtype)
        if key not in self._solvers:  # built once per dtype, as the solver modules are
            with torch.inference_mode(False):
                self._solvers[key] = str_to_interp(self.interpolator, dtype)
        return self._solvers[key]

    def solver_module(self, solver: str | nn.Module | None, dtype: torch.dtype) -> nn.Module:
        """The solver module for states of ``dtype`` (a given module is used as it is)."""
        solver = self.solver if solver is None else solver
        if isinstance(solver, nn.Module):
            return solver
        key = (solver, dtype)
        if key not in self._solvers:
            # Tableaus built inside Lightning's validation (inference mode) could not be
            # used in training later: build them as ordinary tensors.
            with torch.inference_mode(False):
                self._solvers[key] = str_to_solver(solver, dtype)
        return self._solvers[key]

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
        dtype = state_leaf(z0).dtype
        module = self.solver_module(solver, dtype)
        # A backward solve spans two times: interpolation changes nothing there.
        interpolator = self._interpolator(module, dtype)
        _, sol = odeint(
            field,
            z0,
            t,
            _CountedSteps(module, tally),
            atol=self.atol if atol is None else atol,
            rtol=self.rtol if rtol is None else rtol,
            interpolator=interpolator,
            seminorm=(False, None) if norm.is_full else (True, norm.entries),
        )
        return sol

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
        """torchdyn's backsolve adjoint, which measures the forward error with the full norm
        and the backward error with a seminorm. Other norms, and integral losses (whose
        parameter gradients torchdyn's leaves out), run our backsolve adjoint on
        torchdyn's solvers."""
        if gradient.seminorm is None and norm.is_full and integral_loss is None:
            return self.gather_adjoint(_gather_odefunc_adjoint, gradient, field, z0, t, tally)[1]
        seminorm = gradient.seminorm is not False  # torchdyn's own is a seminorm
        return backsolve_adjoint(
            self, replace(gradient, seminorm=seminorm), field, z0, t, norm, tally, integral_loss
        )

    def gather_adjoint(
        self,
        gather: Any,
        gradient: Any,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        tally: NFETally,
        integral_loss: Any = None,
    ) -> tuple[Tensor, Tensor]:
        """Run one of torchdyn's adjoint autograd functions: ``(t_sol, sol)``."""
        params = torch.cat([p.contiguous().flatten() for p in field.parameters()])
        solver = self.solver_module(None, z0.dtype)
        function = gather(
            field,
            params,
            _CountedSteps(solver, tally),
            self.atol,
            self.rtol,
            self._interpolator(solver, z0.dtype),
            _CountedSteps(self.solver_module(gradient.solver, z0.dtype), tally),
            gradient.atol,
            gradient.rtol,
            integral_loss,
            problem_type="standard",
        )
        return function.apply(params, z0, t, (), {})
