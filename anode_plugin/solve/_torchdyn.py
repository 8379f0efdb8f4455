"""The torchdyn backend: torchdyn 1.0.6's solvers, with tableaus in the state's dtype."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torchdyn.numerics.interpolators import INTERP_DICT, str_to_interp
from torchdyn.numerics.odeint import odeint
from torchdyn.numerics.sensitivity import (
    _gather_odefunc_adjoint,
    _gather_odefunc_interp_adjoint,
)
from torchdyn.numerics.solvers.ode import SOLVER_DICT, Tsitouras45, str_to_solver

from .._validation import check_choice, check_positive_float, state_leaf
from ._backend import AdjointSupport, Backend, LibraryAdjoint
from ._defaults import ATOL, RTOL, SOLVER
from ._evaluations import NO_LIMITS, AdjointCounters, Limits
from ._norms import FULL_NORM, ErrorNorm
from ._solvers import check_solver_module
from ._statistics import Solution
from ._torchdyn_layout import MeasuredFirst

__all__ = ["TorchdynBackend"]


class _CountedSteps:
    """A torchdyn solver whose step attempts are counted.

    An accepted step moves time on, a rejected one is tried again from the same time:
    the first attempt from a new time is counted accepted, each further one from that
    time is the retry of a rejected step.
    """

    def __init__(self, solver: nn.Module, counter: Any) -> None:
        # `counter`: an Evaluations, or AdjointCounters (torchdyn's interpolated adjoint
        # steps its backward solve with the forward solver).
        self._solver, self._counter, self._last = solver, counter, None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._solver, name)

    def step(self, f: Any, x: Tensor, t: Tensor, dt: Tensor, **kwargs: Any) -> Any:
        time = float(t.detach())
        self._counter.step(accepted=time != self._last)
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
    #: torchdyn's backsolve adjoint measures the forward error with the full norm and the
    #: backward error with a seminorm, and leaves an integral loss's parameter gradients
    #: out: it runs for ``seminorm=None`` alone; ours, with its seminorm, runs the rest.
    ADJOINTS: ClassVar[AdjointSupport] = AdjointSupport(
        seminorm=True, library_seminorms=(None,), interpolated=True
    )
    SOLVER_MODULES: ClassVar[bool] = True
    DICT_STATES: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, str]] = {"interpolator": "is torchdyn's dense output"}

    solver: str | nn.Module = SOLVER
    atol: float = ATOL
    rtol: float = RTOL
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
        z0: Any,
        t: Tensor,
        *,
        norm: ErrorNorm = FULL_NORM,
        limits: Limits = NO_LIMITS,
        solver: Any = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> Solution:
        dtype = state_leaf(z0).dtype
        module = self.solver_module(solver, dtype)
        counted = self.counter(field, t, limits)
        state, solved, layout = z0, counted, None
        seminorm: tuple[bool, int | None] = (False, None)
        if not norm.is_full:
            if isinstance(z0, Tensor) and z0.ndim >= 2:
                layout = MeasuredFirst(z0, norm.entries)
                state, solved = layout.flat(z0), layout.field(counted)
                seminorm = (True, z0.shape[0] * norm.entries)
            else:
                seminorm = (True, norm.entries)
        _, sol = odeint(
            solved,
            state,
            t,
            _CountedSteps(module, counted),
            atol=self.atol if atol is None else atol,
            rtol=self.rtol if rtol is None else rtol,
            # A backward solve spans two times: interpolation changes nothing there.
            interpolator=self._interpolator(module, dtype),
            seminorm=seminorm,
        )
        if layout is not None:
            sol = layout.state(sol)
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
        """torchdyn's backsolve adjoint."""
        return self._run_adjoint(
            _gather_odefunc_adjoint, field, z0, t, limits, solver, atol, rtol, None
        )

    def interpolated_adjoint(
        self,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        limits: Limits,
        solver: Any,
        atol: float,
        rtol: float,
        integral_loss: Any = None,
    ) -> LibraryAdjoint:
        """torchdyn's interpolated adjoint; its solution holds the solver's checkpoint
        times too, which ``times`` gives."""
        return self._run_adjoint(
            _gather_odefunc_interp_adjoint,
            field,
            z0,
            t,
            limits,
            solver,
            atol,
            rtol,
            integral_loss,
            with_times=True,
        )

    def _run_adjoint(
        self,
        gather: Any,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        limits: Limits,
        solver: Any,
        atol: float,
        rtol: float,
        integral_loss: Any,
        *,
        with_times: bool = False,
    ) -> LibraryAdjoint:
        """Run one of torchdyn's adjoint autograd functions on a counted ``field``."""
        counted = AdjointCounters(field, t, limits)
        params = torch.cat([p.contiguous().flatten() for p in field.parameters()])
        module = self.solver_module(None, z0.dtype)
        function = gather(
            counted,
            params,
            _CountedSteps(module, counted),
            self.atol,
            self.rtol,
            self._interpolator(module, z0.dtype),
            _CountedSteps(self.solver_module(solver, z0.dtype), counted),
            atol,
            rtol,
            integral_loss,
            problem_type="standard",
        )
        t_sol, sol = function.apply(params, z0, t, (), {})
        counted.to_backward()  # torchdyn's backward solve evaluates the same field
        solution = Solution(sol, counted.forward_counter.joint_stats(z0))
        return LibraryAdjoint(solution, counted.backward_counter, t_sol if with_times else None)
