"""The ODEs and method lists the native backend's tests share."""

from __future__ import annotations

import math

import torch

from anode_plugin.solve import TorchdiffeqBackend, TorchdynBackend
from anode_plugin.solve._native import TABLEAUS
from anode_plugin.solve._native._stepper import RungeKuttaStep

ADAPTIVE = [n for n, t in TABLEAUS.items() if t.adaptive]


FIXED = [n for n, t in TABLEAUS.items() if not t.adaptive]
# Each method against a library that has it (torchdyn has no bosh3).


REFERENCE = {name: TorchdynBackend for name in TABLEAUS} | {"bosh3": TorchdiffeqBackend}


def rotation(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dx/dt = A x, A = [[-0.5, 2], [-2, -0.5]]: x(t) = exp(-t/2) R(2t) x(0)."""
    return torch.stack([-0.5 * x[:, 0] + 2 * x[:, 1], -2 * x[:, 0] - 0.5 * x[:, 1]], 1)


def rotation_solution(x0: torch.Tensor, t: float) -> torch.Tensor:
    c, s = math.cos(2 * t), math.sin(2 * t)
    return math.exp(-t / 2) * torch.stack(
        [c * x0[:, 0] + s * x0[:, 1], -s * x0[:, 0] + c * x0[:, 1]], 1
    )


def growth(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dx/dt = cos(t) x: x(t) = x(0) exp(sin t); time-dependent, so the nodes c matter."""
    return torch.cos(t) * x


def growth_solution(x0: torch.Tensor, t: float) -> torch.Tensor:
    return x0 * math.exp(math.sin(t))


def global_error(name: str, field, solution, steps: int) -> float:
    """The error at t = 1 of ``steps`` equal steps of the method ``name`` (float64)."""
    x0 = torch.tensor([[1.0, -0.5], [0.3, 0.8]], dtype=torch.float64)
    stepper = RungeKuttaStep(TABLEAUS[name], x0)
    y, dt = x0, 1.0 / steps

    def rate(s: float, z: torch.Tensor) -> torch.Tensor:
        return field(torch.tensor(s, dtype=torch.float64), z)

    for i in range(steps):
        y = stepper(rate, i * dt, dt, y, None).y
    return float((y - solution(x0, 1.0)).abs().max())
