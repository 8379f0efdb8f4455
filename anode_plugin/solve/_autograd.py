"""Gradients by backpropagation through the solver's operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        integral_loss: Any = None,
    ) -> Tensor:
        """The states at the times ``t``: ``[len(t), *z0.shape]``; ``integral_loss``
        ``g(t, z)`` joins the loss the gradients are of (torchdyn's ``integral_loss``)."""
        if integral_loss is not None:
            raise ValueError(
                "With sensitivity='autograd' an integral loss is integrated as a state "
                "entry (the model's field computes it), not handed to the solve."
            )
        return backend.integrate(field, z0, t, norm=norm, tally=tally)
