"""Gradients by backpropagation through the solver's operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ._backend import Backend
from ._evaluations import Limits
from ._norms import ErrorNorm
from ._statistics import Solution

__all__ = ["Autograd"]


@dataclass(frozen=True)
class Autograd:
    """Backpropagate through every step of the solve: exact gradients of the computed
    solution, memory growing with the number of steps, no backward evaluations."""

    sensitivity = "autograd"

    def solve(
        self,
        backend: Backend,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm,
        limits: Limits,
        integral_loss: Any = None,
        record_backward: Any = None,
    ) -> Solution:
        """One forward solve; autograd differentiates through it (no backward solve).

        Returns:
            The states at the times ``t``, ``[len(t), *z0.shape]``, and the statistics.
        """
        if integral_loss is not None:
            raise ValueError(
                "With sensitivity='autograd' an integral loss is integrated as a state "
                "entry (the model's field computes it), not handed to the solve."
            )
        return backend.integrate(field, z0, t, norm=norm, limits=limits)
