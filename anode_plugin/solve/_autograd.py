"""Gradients by backpropagation through the solver's operations."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .._nfe import NFETally
from ._backend import Backend
from ._norms import ErrorNorm

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
        tally: NFETally,
    ) -> Tensor:
        """The states at the times ``t``: ``[len(t), *z0.shape]``."""
        return backend.integrate(field, z0, t, norm=norm, tally=tally)
