"""The native backend's loops: fixed steps, and adaptive steps with Hairer's step-size
control, each step's error read back once."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..._errors import NonFiniteStateError, StepSizeUnderflowError
from .._evaluations import Evaluations
from .._norms import FULL_NORM, ErrorNorm
from ._compiled import CompiledStep
from ._stepper import RungeKuttaStep, error_ratio, rms

__all__ = ["Loop"]

# Step-size control (Hairer, Norsett & Wanner, I, II.4), as torchdyn and torchdiffeq:
# the next step is the last one times safety * ratio^(-1/order), within [0.2, 10], and
# never shrunk after an accepted step.
_SAFETY, _SHRINK_LIMIT, _GROW_LIMIT = 0.9, 0.2, 10.0


@dataclass
class Loop:
    """One call's loop: the stepper, the counter, whether and how steps are compiled, and
    the times' dtype (the fields receive the time in it)."""

    stepper: RungeKuttaStep
    counted: Evaluations
    #: The compiled step of the stepper's method, or ``None`` to step eagerly.
    compiled: CompiledStep | None
    time_like: Tensor
    #: The field's modules that count their own calls (``nfe``), for a compiled step.
    tallies: tuple[nn.Module, ...] = ()

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
            dtype = self.time_like.dtype
            return self.compiled(self.counted, s, dt, y, k, *tolerances, dtype, self.tallies)
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
            measured = norm.measured  # all entries, one row per sample, for the full norm
            scale = measured(y).abs().mul(rtol).add_(atol)
            d0, d1 = (
                float(x) for x in torch.stack([rms(measured(y) / scale), rms(measured(k) / scale)])
            )
            h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
            k1 = self.rate(s + direction * h0, y + (direction * h0) * k)
            d2 = float(rms(measured(k1 - k) / scale)) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
        return min(100 * h0, h1)

    def _check_finite(self, y: Tensor, s: float) -> None:
        if not bool(torch.isfinite(y.detach()).all()):
            raise NonFiniteStateError(self.counted.non_finite_message("state", s))


def _factor(ratio: float, accepted: bool, order: int) -> float:
    """The next step over the last: safety * ratio^(-1/order) within the limits."""
    if ratio == 0.0:
        return _GROW_LIMIT
    factor = _SAFETY * ratio ** (-1.0 / order)
    return min(_GROW_LIMIT, max(factor, 1.0 if accepted else _SHRINK_LIMIT))
