"""The native backend: the package's own explicit Runge-Kutta solvers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor, nn

from ..._validation import check_choice, check_positive_float
from .._backend import AdjointSupport, Backend
from .._defaults import ATOL, RTOL, SOLVER
from .._evaluations import NO_LIMITS, Limits
from .._norms import FULL_NORM, ErrorNorm
from .._statistics import Solution
from ._compiled import check_compile_options, compiled_step
from ._loop import Loop
from ._stepper import RungeKuttaStep
from ._tableaus import TABLEAUS, ButcherTableau

__all__ = ["NativeBackend"]


@dataclass(frozen=True)
class NativeBackend(Backend):
    """Solves with the package's own Runge-Kutta methods, written for speed.

    The whole batch is one system (one step size), as with torchdyn and torchdiffeq.
    Adaptive methods step onto each time of ``t`` (a step that would pass it is
    shortened to end on it), so every returned state is a step's own solution, with no
    interpolation error, and the NFE of a two-time span are those of the solve itself;
    many closely spaced times cost steps that a dense output (torchdiffeq's) avoids.
    Fixed-step methods take one step per interval of ``t`` (torchdyn's convention), or
    steps of at most ``step_size``.

    Args:
        solver: a method name from :attr:`SOLVERS`.
        atol: absolute tolerance of adaptive methods.
        rtol: relative tolerance of adaptive methods.
        step_size: fixed-step methods' largest step; ``None``: one step per interval.
        compile: compile each whole step (its evaluations, stage sums and error ratio)
            with ``torch.compile`` when the field is a module: ``True`` with its
            defaults, or a dict of its keyword arguments (``{"mode": "reduce-overhead"}``
            for CUDA graphs on a GPU, ``{"backend": "aot_eager"}`` for a fast compile). One
            compiled step per method, options and process, reused by every model of the
            same field class and shapes: the first step of a new shape pays the
            compilation (16.5 s cold for the spheres ANODE on 2 cores, about 2 s once
            inductor's on-disk cache holds it). An adjoint's backward solve, whose field
            differentiates inside, runs eagerly, and so does every step once a process
            has compiled a method for more field classes and shapes than dynamo's
            recompilation limit (8 by default). Keep Python counters out of a compiled
            field: a mutated int attribute is a guard, a recompilation per step.
    """

    name: ClassVar[str] = "native"
    SOLVERS: ClassVar[tuple[str, ...]] = tuple(TABLEAUS)
    SENSITIVITIES: ClassVar[tuple[str, ...]] = ("autograd", "adjoint")
    #: The adjoint's default: our backsolve adjoint with the seminorm, as torchdyn's own.
    ADJOINTS: ClassVar[AdjointSupport] = AdjointSupport(seminorm=True)

    solver: str = SOLVER
    atol: float = ATOL
    rtol: float = RTOL
    step_size: float | None = None
    compile: bool | Mapping[str, Any] = False
    _steppers: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_choice("solver", self.solver, self.SOLVERS)
        check_positive_float("atol", self.atol)
        check_positive_float("rtol", self.rtol)
        if self.step_size is not None:
            check_positive_float("step_size", self.step_size)
            if TABLEAUS[self.solver].adaptive:
                fixed = [n for n, t in TABLEAUS.items() if not t.adaptive]
                raise ValueError(
                    f"`step_size` is the step of the fixed-step solvers {fixed}; "
                    f"solver={self.solver!r} chooses its own steps (set atol and rtol)."
                )
        check_compile_options(self.compile)

    def _stepper(self, tableau: ButcherTableau, like: Tensor) -> RungeKuttaStep:
        key = (tableau.name, like.dtype, like.device)
        if key not in self._steppers:
            self._steppers[key] = RungeKuttaStep(tableau, like)
        return self._steppers[key]

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
        self._check_tensor_state(z0)
        name = self.solver if solver is None else solver
        tableau = TABLEAUS[check_choice("solver", name, self.SOLVERS)]
        times = _times(t)
        counted = self.counter(field, t, limits)
        options = _options_key(self.compile)
        compiled = options is not None and isinstance(field, nn.Module)
        solve = Loop(
            stepper=self._stepper(tableau, z0),
            counted=counted,
            compiled=compiled_step(tableau, options) if compiled else None,
            time_like=t,
            tallies=_tallies(field) if compiled else (),
        )
        if tableau.adaptive:
            tol = (self.atol if atol is None else atol, self.rtol if rtol is None else rtol)
            ys = solve.adaptive(z0, times, norm, *tol)
        else:
            ys = solve.fixed(z0, times, self.step_size)
        return Solution(ys, counted.joint_stats(z0))


def _tallies(field: nn.Module) -> tuple[nn.Module, ...]:
    """The modules of ``field`` that count their own calls in an int ``nfe`` (torchdyn's
    convention, the package's ``FieldCall``)."""
    return tuple(
        m
        for m in field.modules()
        if type(getattr(m, "nfe", None)) is int  # not a bool
    )


def _options_key(compile: bool | Mapping[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """The compile options as a hashable key; ``None`` without compilation."""
    if compile is False:
        return None
    return () if compile is True else tuple(sorted(compile.items()))


def _times(t: Tensor) -> list[float]:
    """``t`` as host floats (one read), checked: 1-D, two or more, strictly monotonic."""
    times = t.detach().reshape(-1).tolist() if t.ndim == 1 else []
    if not all(math.isfinite(s) for s in times):
        raise ValueError(f"`t` must hold finite times, got {times}.")
    steps = [b - a for a, b in itertools.pairwise(times)]
    if not steps or not (all(s > 0 for s in steps) or all(s < 0 for s in steps)):
        raise ValueError(
            "`t` must be 1-D with at least two strictly increasing or strictly decreasing "
            f"times, got {t.tolist() if t.numel() < 10 else tuple(t.shape)}."
        )
    return times
