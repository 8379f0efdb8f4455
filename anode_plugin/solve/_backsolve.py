"""Our backsolve adjoint, on any backend, with the error norms we choose.

torchdyn 1.0.6's own adjoint always measures the backward error with a seminorm and
the forward error with the full norm. This one takes both as norms: the backward solve
with the full norm or the seminorm of Kidger, Chen & Lyons (2021), and the forward
solve with a norm over leading entries only, which keeps the integrals of the
regularisers out of step-size control.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ._evaluations import Evaluations, Limits, span_of
from ._norms import FULL_NORM, ErrorNorm
from ._statistics import Solution, SolveStats

__all__ = ["backsolve_adjoint"]


class _AdjointDynamics:
    """The adjoint system ``d[z, a, a_theta]/ds`` of ``dz/dt = f(t, z)`` on one flat state."""

    def __init__(self, field: nn.Module, params: tuple, shape: torch.Size, integral_loss: Any):
        self.field, self.params, self.shape, self.integral_loss = (
            field,
            params,
            shape,
            integral_loss,
        )
        self.n = shape.numel()

    def ode_state(self, state: Tensor) -> Tensor:
        """The forward state ``z`` within the adjoint state."""
        return state[: self.n].view(self.shape)

    def __call__(self, s: Tensor, state: Tensor) -> Tensor:
        n, shape, params = self.n, self.shape, self.params
        z, a = state[:n].view(shape), state[n : 2 * n].view(shape)
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            dz = self.field(s, z)
            grads = torch.autograd.grad(dz, (z, *params), -a, allow_unused=True)
            if self.integral_loss is not None:
                # d/ds of the adjoint gains -dg/dz, of the parameters' adjoint -dg/dθ.
                loss = self.integral_loss(s, z).sum()
                extra = torch.autograd.grad(loss, (z, *params), allow_unused=True)
                grads = tuple(
                    g if e is None else (-e if g is None else g - e)
                    for g, e in zip(grads, extra, strict=True)
                )
        da, *dparams = (
            torch.zeros_like(x) if g is None else g
            for g, x in zip(grads, (z, *params), strict=True)
        )
        return torch.cat(
            [dz.detach().reshape(-1), da.reshape(-1), *(g.reshape(-1) for g in dparams)]
        )


class _BacksolveAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, field: nn.Module, z0: Tensor, t: Tensor, setup: dict, *params: Tensor):
        solution = setup["backend"].integrate(
            field, z0, t, norm=setup["norm"], limits=setup["limits"]
        )
        setup["stats"] = solution.stats
        ctx.field, ctx.setup, ctx.params = field, setup, params
        ctx.save_for_backward(t, solution.ys)
        return solution.ys

    @staticmethod
    def backward(ctx: Any, grad_sol: Tensor):
        t, sol = ctx.saved_tensors
        setup, params = ctx.setup, ctx.params
        backend = setup["backend"]
        shape, n = sol.shape[1:], sol[0].numel()
        sizes = [p.numel() for p in params]
        dynamics = _AdjointDynamics(ctx.field, params, shape, setup["integral_loss"])
        # One backward solve, however many segments: one budget, one guard.
        counted = Evaluations(dynamics, setup["limits"], "backward", span_of(t.flip(0)))
        state = torch.cat(
            [sol[-1].reshape(-1), grad_sol[-1].reshape(-1), sol.new_zeros(sum(sizes))]
        )
        norm = ErrorNorm(2 * n) if setup["seminorm"] else FULL_NORM
        stats = SolveStats()
        for i in range(len(t) - 1, 0, -1):
            segment = backend.integrate(
                counted,
                state,
                t[i - 1 : i + 1].flip(0),
                norm=norm,  # `counted` keeps the budget and names the direction
                solver=setup["solver"],
                atol=setup["atol"],
                rtol=setup["rtol"],
            )
            stats = stats + segment.stats
            state = segment.ys[-1].clone()
            # The state is reset to the forward solution: no drift from the backsolve.
            state[:n] = sol[i - 1].reshape(-1)
            state[n : 2 * n] += grad_sol[i - 1].reshape(-1)
        if setup["record_backward"] is not None:
            setup["record_backward"](stats)
        grad_z0 = state[n : 2 * n].view(shape)
        grad_params = torch.split(state[2 * n :], sizes) if sizes else ()
        return (
            None,
            grad_z0,
            None,
            None,
            *(g.view_as(p) for g, p in zip(grad_params, params, strict=True)),
        )


def backsolve_adjoint(
    backend: Any,
    field: nn.Module,
    z0: Tensor,
    t: Tensor,
    *,
    norm: ErrorNorm,
    limits: Limits,
    solver: Any,
    atol: float,
    rtol: float,
    seminorm: bool,
    integral_loss: Any = None,
    record_backward: Any = None,
) -> Solution:
    """Solve ``dz/dt = field(t, z)`` with gradients from a backsolve adjoint.

    Args:
        backend: integrates the forward and the backward solves.
        field: the vector field, called as ``field(t, z)``; its parameters get gradients.
        z0: initial state, any shape.
        t: times, 1-D and strictly monotonic.
        norm: the forward solve's error norm.
        limits: each solve's budget.
        solver: the backward solve's solver (``None``: the forward one's).
        atol: the backward solve's absolute tolerance.
        rtol: the backward solve's relative tolerance.
        seminorm: whether the backward error leaves the parameters' adjoint out.
        integral_loss: ``g(t, z)``, whose integral over the solve joins the loss: its
            gradients with respect to ``z0`` and the field's parameters are added.
        record_backward: receives the backward solve's statistics when it ends.

    Returns:
        The states at the times ``t``, ``[len(t), *z0.shape]`` (no gradient flows to
        ``t``), and the forward statistics.
    """
    params = tuple(p for p in field.parameters() if p.requires_grad)
    setup = {
        "backend": backend,
        "norm": norm,
        "limits": limits,
        "solver": solver,
        "atol": atol,
        "rtol": rtol,
        "seminorm": seminorm,
        "integral_loss": integral_loss,
        "record_backward": record_backward,
    }
    ys = _BacksolveAdjoint.apply(field, z0, t, setup, *params)
    return Solution(ys, setup["stats"])
