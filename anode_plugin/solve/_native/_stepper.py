"""One Runge-Kutta step with as few tensor ops as the tableau allows.

A stage's input ``y0 + dt sum_j a_ij k_j`` is one op for one earlier stage, an add and
an in-place add for two, and for three or more one ``stack`` of the stages and one
``addmm`` with the tableau's row (``dt`` rides in ``alpha``). The error estimate is
formed under ``no_grad`` (step-size control is not differentiated) from the same stack.
Time and step size are Python floats: the only host read of a step is its error ratio.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from .._norms import ErrorNorm
from ._tableaus import ButcherTableau

__all__ = ["RungeKuttaStep", "StepResult", "error_ratio", "rms"]

#: ``f(t, y)`` with ``t`` a Python float.
Rate = Callable[[float, Tensor], Tensor]


class StepResult(NamedTuple):
    """One step attempt.

    Attributes:
        y: the solution at ``t + dt``, like ``y0``.
        last: the last stage of an FSAL method (the next step's first), else ``None``.
        error: the local error estimate (no graph), or ``None`` for fixed-step methods.
    """

    y: Tensor
    last: Tensor | None
    error: Tensor | None


class _Row(NamedTuple):
    """The non-zero weights of one stage's combination."""

    stages: tuple[int, ...]
    weights: tuple[float, ...]


def _row(weights: tuple[float, ...]) -> _Row:
    nonzero = [(j, w) for j, w in enumerate(weights) if w != 0.0]
    return _Row(tuple(j for j, _ in nonzero), tuple(w for _, w in nonzero))


class RungeKuttaStep:
    """Steps of one tableau, for states of one dtype and device.

    Args:
        tableau: the method.
        like: a tensor of the states' dtype and device (the weight rows of the fused
            combinations are built once, in it).
    """

    def __init__(self, tableau: ButcherTableau, like: Tensor) -> None:
        self.tableau = tableau
        # The stage inputs, then the solution (an FSAL method's solution is the input of
        # its last stage, so it is not formed twice).
        self.rows = [_row(r) for r in tableau.a]
        if not tableau.fsal:
            self.rows.append(_row(tableau.b))
        self.error_row = None if tableau.error is None else _row(tableau.error)
        # Built outside inference mode: a row built during validation is used in training.
        with torch.inference_mode(False), torch.no_grad():
            self._weights = [
                torch.tensor([r.weights], dtype=like.dtype, device=like.device)
                if len(r.stages) > 2
                else None
                for r in self.rows
            ]
            self._error_weights = (
                None
                if self.error_row is None
                else torch.tensor([self.error_row.weights], dtype=like.dtype, device=like.device)
            )

    def combine(self, row: int, y0: Tensor, ks: list[Tensor], dt: float) -> Tensor:
        """``y0 + dt sum_j w_j k_j`` for the weights of ``rows[row]``."""
        stages, weights = self.rows[row]
        if not stages:
            return y0
        if len(stages) == 1:
            return torch.add(y0, ks[stages[0]], alpha=dt * weights[0])
        if len(stages) == 2:
            out = torch.add(y0, ks[stages[0]], alpha=dt * weights[0])
            return out.add_(ks[stages[1]], alpha=dt * weights[1])
        stacked = torch.stack([ks[j] for j in stages]).reshape(len(stages), -1)
        out = torch.addmm(y0.reshape(1, -1), self._weights[row], stacked, alpha=dt)
        return out.view(y0.shape)

    def __call__(self, f: Rate, t: float, dt: float, y0: Tensor, k0: Tensor | None) -> StepResult:
        """One step of size ``dt`` from ``(t, y0)``; ``k0 = f(t, y0)`` if known (FSAL)."""
        tableau = self.tableau
        ks = [f(t, y0) if k0 is None else k0]
        stage_input = y0
        for i in range(1, tableau.stages):
            stage_input = self.combine(i - 1, y0, ks, dt)
            ks.append(f(t + tableau.c[i] * dt, stage_input))
        # FSAL: the last stage was evaluated at the solution.
        y1 = stage_input if tableau.fsal else self.combine(len(self.rows) - 1, y0, ks, dt)
        if self.error_row is None:
            return StepResult(y1, None, None)
        with torch.no_grad():
            stages = self.error_row.stages
            stacked = torch.stack([ks[j].detach() for j in stages]).reshape(len(stages), -1)
            error = torch.mm(self._error_weights, stacked).mul_(dt).view(y0.shape)
        return StepResult(y1, ks[-1] if tableau.fsal else None, error)


def error_ratio(
    norm: ErrorNorm, error: Tensor, y0: Tensor, y1: Tensor, atol: float, rtol: float
) -> Tensor:
    """The scaled error's norm, ``||error / (atol + rtol max(|y0|, |y1|))||``, as a
    0-dim tensor (no graph): a step is accepted when it is at most 1."""
    with torch.no_grad():
        if not norm.is_full:
            error, y0, y1 = norm.measured(error), norm.measured(y0), norm.measured(y1)
        scale = torch.maximum(y0.abs(), y1.abs()).mul_(rtol).add_(atol)
        return rms(error / scale)


def rms(x: Tensor) -> Tensor:
    """The root mean square of ``x``'s entries, a 0-dim tensor."""
    return torch.linalg.vector_norm(x) / math.sqrt(max(x.numel(), 1))
