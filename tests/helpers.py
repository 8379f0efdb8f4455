"""Shared parametrisations and small fields for the core tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from anode_plugin import BACKENDS, SENSITIVITIES

# Every (backend, sensitivity) pair the model accepts.
BACKEND_SENSITIVITIES = [(b, s) for b in BACKENDS for s in SENSITIVITIES[b]]


class CountingField(nn.Module):
    """``f(t, x) = net(x)`` with a counter incremented on every call: the classic count."""

    def __init__(self, dim: int, hidden: int = 16, *, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        self.calls = 0

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        self.calls += 1
        return self.net(x)


class LinearField(nn.Module):
    """``dx/dt = a x``, solved exactly by ``x(t) = x(0) exp(a t)``."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, x: Tensor) -> Tensor:
        return self.a * x
