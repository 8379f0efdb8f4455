"""The discrete baseline of the paper: a ResNet of residual MLP blocks.

A ResNet is the Euler discretisation of a Neural ODE with step 1; its trajectories
can cross (section 3), so it fits ``g1d`` and the concentric spheres easily.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..._validation import check_non_negative_int, check_positive_int
from ..._vector_fields import activation_module

__all__ = ["ResNet", "match_resnet_hidden_dim", "resnet_num_parameters"]


class _ResidualBlock(nn.Module):
    """``h + mlp(h)`` with the vector field's MLP ``dim -> hidden -> hidden -> dim`` (no time)."""

    def __init__(self, dim: int, hidden_dim: int, activation: str) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            activation_module(activation),
            nn.Linear(hidden_dim, hidden_dim),
            activation_module(activation),
            nn.Linear(hidden_dim, dim),
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.mlp(h)


class ResNet(nn.Module):
    """``num_blocks`` residual blocks, each with its own MLP of the same shape.

    The Euler discretisation (step 1) of a Neural ODE, with one MLP per step. It keeps
    the call contract of the ODE blocks: ``forward`` returns ``(t_eval, states)``, so
    :class:`~anode_plugin.lightning.ANODEModule` trains it unchanged, and ``features`` gives
    ``phi(x)``. ``augment_dims`` zero dimensions may be appended, as in an ANODE.

    Args:
        dim: input size ``d``.
        hidden_dim: width of each block's two hidden layers.
        num_blocks: number of residual blocks (layers).
        augment_dims: zero dimensions appended to the input, as ``p`` in an ANODE.
        activation: one of ``ACTIVATIONS``.

    Shape:
        - ``x``: ``[batch, d]``; ``features(x)``: ``[batch, d + p]``.
    """

    def __init__(
        self,
        dim: int,
        hidden_dim: int = 32,
        num_blocks: int = 5,
        *,
        augment_dims: int = 0,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_blocks = check_positive_int("num_blocks", num_blocks)
        self.augment_dims = check_non_negative_int("augment_dims", augment_dims)
        width = self.dim + self.augment_dims
        self.blocks = nn.ModuleList(
            _ResidualBlock(width, self.hidden_dim, activation) for _ in range(self.num_blocks)
        )

    def _augment(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"`x` must have shape [batch, {self.dim}], got {tuple(x.shape)}.")
        if self.augment_dims == 0:
            return x
        return nn.functional.pad(x, (0, self.augment_dims))

    def trajectory(self, x: Tensor) -> Tensor:
        """The state after each block, the input first: ``[num_blocks + 1, batch, d + p]``."""
        h = self._augment(x)
        states = [h]
        for block in self.blocks:
            h = block(h)
            states.append(h)
        return torch.stack(states)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(t_eval, states)`` like an ODE block: block ``k`` sits at time ``k / num_blocks``.

        Returns:
            ``t_eval: [num_blocks + 1]`` and ``states: [num_blocks + 1, batch, d + p]``.
        """
        states = self.trajectory(x)
        t_eval = torch.linspace(0.0, 1.0, self.num_blocks + 1, device=x.device, dtype=x.dtype)
        return t_eval, states

    def features(self, x: Tensor) -> Tensor:
        """``phi(x)``, the state after the last block: ``[batch, d + p]``."""
        h = self._augment(x)
        for block in self.blocks:
            h = block(h)
        return h

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, hidden_dim={self.hidden_dim}, num_blocks={self.num_blocks}, "
            f"augment_dims={self.augment_dims}"
        )


def resnet_num_parameters(dim: int, hidden_dim: int, num_blocks: int) -> int:
    """Parameters of ``ResNet(dim, hidden_dim, num_blocks)`` (``dim`` includes ``p``)."""
    per_block = (dim + 1) * hidden_dim + (hidden_dim + 1) * hidden_dim + (hidden_dim + 1) * dim
    return num_blocks * per_block


def match_resnet_hidden_dim(num_parameters: int, dim: int, *, num_blocks: int = 5) -> int:
    """The ``hidden_dim`` whose ResNet has the parameter count closest to ``num_parameters``.

    Args:
        num_parameters: the count to match, e.g. that of the ODE model's vector field.
        dim: the ResNet's state size (augmented dimensions included).
        num_blocks: number of residual blocks.
    """
    num_parameters = check_positive_int("num_parameters", num_parameters)
    dim = check_positive_int("dim", dim)
    num_blocks = check_positive_int("num_blocks", num_blocks)
    best, best_gap = 1, None
    hidden = 1
    while True:
        count = resnet_num_parameters(dim, hidden, num_blocks)
        gap = abs(count - num_parameters)
        if best_gap is None or gap < best_gap:
            best, best_gap = hidden, gap
        if count > num_parameters:
            return best
        hidden += 1
