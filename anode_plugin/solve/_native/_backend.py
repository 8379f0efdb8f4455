"""The native backend: the package's own explicit Runge-Kutta solvers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..._errors import NonFiniteStateError, StepSizeUnderflowError
from ..._validation import check_choice, check_positive_float
from .._backend import Backend
from .._defaults import ATOL, RTOL, SOLVER
from .._evaluations import NO_LIMITS, Evaluations, Limits
from .._norms import FULL_NORM, ErrorNorm
from .._statistics import Solution
from ._compiled import check_compile_options, compiled_step
from ._stepper import RungeKuttaStep, error_ratio
from ._tableaus import TABLEAUS, ButcherTableau

__all__ = ["NativeBackend"]

# Step-size control (Hairer, Norsett & Wanner, I, II.4), as torchdyn and torchdiffeq:
# the next step is the last one times safety * ratio^(-1/order), within [0.2, 10], and
# never shrunk after an accepted step.
_SAFETY, _SHRINK_LIMIT, _GROW_LIMIT = 0.9, 0.2, 10.0


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
            differentiates inside, runs eagerly.
    """

    name: ClassVar[str] = "native"
    SOLVERS: ClassVar[tuple[str, ...]] = tuple(TABLEAUS)
    SENSITIVITIES: ClassVar[tuple[str, ...]] = ("autograd", "adjoint")
    #: The adjoint's default: our backsolve adjoint with the seminorm, as torchdyn's own.
    OWN_ADJOINT_SEMINORM: ClassVar[bool | None] = True

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
        if not isinstance(z0, Tensor):
            raise TypeError(
                f"backend='native' integrates tensor states, got a {type(z0).__name__}; "
                "torchdyn's dict states need backend='torchdyn'."
            )
        name = self.solver if solver is None else solver
        tableau = TABLEAUS[check_choice("solver", name, self.SOLVERS)]
        times = _times(t)
        counted = self.counter(field, t, limits)
        solve = _Solve(
            stepper=self._stepper(tableau, z0),
            counted=counted,
            compiled=_options_key(self.compile) if isinstance(field, nn.Module) else None,
            time_like=t,
        )
        if tableau.adaptive:
            tol = (self.atol if atol is None else atol, self.rtol if rtol is None else rtol)
            ys = solve.adaptive(z0, times, norm, *tol)
        else:
            ys = solve.fixed(z0, times, self.step_size)
        return Solution(ys, counted.joint_stats(z0))


def _options_key(compile: bool | Mapping[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """The compile options as a hashable key; ``None`` without compilation."""
    if compile is False:
        return None
    return () if compile is True else tuple(sorted(compile.items()))


def _times(t: Tensor) -> list[float]:
    """``t`` as host floats (one read), checked: 1-D, two or more, strictly monotonic."""
    times = t.detach().reshape(-1).tolist() if t.ndim == 1 else None
    steps = [b - a for a, b in itertools.pairwise(times or [])]
    if not steps or not (all(s > 0 for s in steps) or all(s < 0 for s in steps)):
        raise ValueError(
            "`t` must be 1-D with at least two strictly increasing or strictly decreasing "
            f"times, got {t.tolist() if t.numel() < 10 else tuple(t.shape)}."
        )
    if not all(math.isfinite(s) for s in times):
        raise ValueError(f"`t` must hold finite times, got {times}.")
    return times


@dataclass
class _Solve:
    """One call's loop: the stepper, the counter and the output times' dtype."""

    stepper: RungeKuttaStep
    counted: Evaluations
    #: ``torch.compile``'s options as sorted items, or ``None`` to step eagerly.
    compiled: tuple[tuple[str, Any], ...] | None
    time_like: Tensor

    def rate(self, s: float, y: Tensor) -> Tensor:
        """``f(s, y)``, counted, with the time as a 0-dim tensor as the fields expect."""
        return self.counted(torch.tensor(s, dtype=self.time_like.dtype, device=y.device), y)

    def step(
        self,
        s: float,
        dt: float,
        y: Tensor,
        k: Tensor | None,
        tolerances: tuple[ErrorNorm, float, float] = (FULL_NORM, 1.0, 1.0),
    ) -> Any:
        if self.compiled is not None:
            step = compiled_step(self.stepper.tableau, self.compiled)
            return step(self.counted, s, dt, y, k, *tolerances, self.time_like.dtype)
        return self.stepper(self.rate, s, dt, y, k)

    def fixed(self, z0: Tensor, times: list[float], step_size: float | None) -> Tensor:
        ys, y = [z0], z0
        for start, end in itertools.pairwise(times):
            n = 1 if step_size is None else max(1, math.ceil(abs(end - start) / step_size - 1e-9))
            h = (end - start) / n
            for i in range(n):
                y = self.step(start + i * h, h, y, None).y
                self.counted.step(True)
            ys.append(y)
            self._check_finite(y, end)
        return torch.stack(ys)

    def adaptive(
        self, z0: Tensor, times: list[float], norm: ErrorNorm, atol: float, rtol: float
    ) -> Tensor:
        tableau = self.stepper.tableau
        direction = 1.0 if times[-1] > times[0] else -1.0
        s, y = times[0], z0
        k = self.rate(s, y)
        dt = direction * self._initial_step(s, y, k, direction, norm, atol, rtol)
        ys = [z0]
        for end in times[1:]:
            while direction * (end - s) > 0:
                clipped = direction * (s + dt - end) >= 0
                h = end - s if clipped else dt
                result = self.step(s, h, y, k if tableau.fsal else None, (norm, atol, rtol))
                ratio = float(
                    result.ratio
                    if self.compiled is not None
                    else error_ratio(norm, result.error, y, result.y, atol, rtol)
                )
                if not math.isfinite(ratio):
                    raise NonFiniteStateError(self.counted.non_finite_message("state", s))
                accepted = ratio <= 1.0
                self.counted.step(accepted)
                if accepted:
                    s, y = (end if clipped else s + h), result.y
                    k = result.last
                if not (accepted and clipped):  # a shortened step says nothing of dt
                    dt = h * _factor(ratio, accepted, tableau.order)
                if abs(dt) <= 8 * math.ulp(max(abs(s), 1.0)):
                    raise StepSizeUnderflowError(
                        f"The solver's step size underflowed at t={s:.6g} (step {dt:.3g}, "
                        f"evaluation {self.counted.nfe}). The flow is too stiff to integrate; "
                        "try looser tolerances, more augmented dimensions, weight decay, "
                        "float64, or a `max_nfe` budget."
                    )
            ys.append(y)
            self._check_finite(y, end)
        return torch.stack(ys)

    def _initial_step(
        self, s: float, y: Tensor, k: Tensor, direction: float, norm: ErrorNorm, atol, rtol
    ) -> float:
        """Hairer's starting step (Hairer, Norsett & Wanner, I, II.4): one evaluation."""
        order = self.stepper.tableau.order
        with torch.no_grad():
            measured = (lambda x: x) if norm.is_full else norm.measured
            scale = measured(y).abs().mul(rtol).add_(atol)
            d0, d1 = (
                float(x)
                for x in torch.stack([_rms(measured(y) / scale), _rms(measured(k) / scale)])
            )
            h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
            k1 = self.rate(s + direction * h0, y + (direction * h0) * k)
            d2 = float(_rms(measured(k1 - k) / scale)) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
        return min(100 * h0, h1)

    def _check_finite(self, y: Tensor, s: float) -> None:
        if not bool(torch.isfinite(y.detach()).all()):
            raise NonFiniteStateError(self.counted.non_finite_message("state", s))


def _rms(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x) / math.sqrt(max(x.numel(), 1))


def _factor(ratio: float, accepted: bool, order: int) -> float:
    """The next step over the last: safety * ratio^(-1/order) within the limits."""
    if ratio == 0.0:
        return _GROW_LIMIT
    factor = _SAFETY * ratio ** (-1.0 / order)
    return min(_GROW_LIMIT, max(factor, 1.0 if accepted else _SHRINK_LIMIT))
