"""torchdyn's ``integral_loss`` under autograd: the running loss as a state column."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._errors import StateShapeError

__all__ = ["IntegralLossField"]


class IntegralLossField(nn.Module):
    """``d[L, z]/dt = [g(t, z), f(t, z)]``: the integral of ``g`` accumulates in column 0.

    torchdyn's layout: the state handed to the solve is ``[L0, z]`` and the solution's
    column 0 is the integral loss, so backpropagating through it gives its gradients.
    One evaluation of this system is one evaluation of ``f``.

    Args:
        field: ``f(t, z)``, the model's vector field.
        integral_loss: ``g(t, z)``, returning ``[batch]`` or ``[batch, 1]``.

    Shape:
        - state: ``[batch, 1 + n]``; output: ``[batch, 1 + n]``.
    """

    def __init__(self, field: nn.Module, integral_loss: Callable[[Tensor, Tensor], Tensor]) -> None:
        super().__init__()
        self.field = field
        self.integral_loss = integral_loss

    def ode_state(self, state: Tensor) -> Tensor:
        """The model's state ``z`` within ``[L, z]``."""
        return state[:, 1:]

    def forward(self, t: Tensor, state: Tensor) -> Tensor:
        z = self.ode_state(state)
        dz = self.field(t, z)
        rate = self.integral_loss(t, z)
        if not isinstance(rate, Tensor) or rate.shape not in ((z.shape[0],), (z.shape[0], 1)):
            got = tuple(rate.shape) if isinstance(rate, Tensor) else type(rate).__name__
            raise StateShapeError(
                f"`integral_loss` must return one value per sample, [batch] or [batch, 1] = "
                f"[{z.shape[0]}] or [{z.shape[0]}, 1], got {got}."
            )
        return torch.cat([rate.reshape(-1, 1).to(dz), dz], 1)
