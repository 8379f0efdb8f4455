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

from .._nfe import NFETally
from ._norms import FULL_NORM, ErrorNorm

__all__ = ["backsolve_adjoint"]


class _BacksolveAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, field: nn.Module, z0: Tensor, t: Tensor, setup: tuple, *params: Tensor):
        backend, _, norm, tally, _ = setup
        sol = backend.integrate(field, z0, t, norm=norm, tally=tally)
        ctx.field, ctx.setup, ctx.params = field, setup, params
        ctx.save_for_backward(t, sol)
        return sol

    @staticmethod
    def backward(ctx: Any, grad_sol: Tensor):
        t, sol = ctx.saved_tensors
        field, params = ctx.field, ctx.params
        backend, gradient, _, tally, integral_loss = ctx.setup
        shape, n = sol.shape[1:], sol[0].numel()
        sizes = [p.numel() for p in params]

        def dynamics(s: Tensor, state: Tensor) -> Tensor:
            z, a = state[:n].view(shape), state[n : 2 * n].view(shape)
            with torch.enable_grad():
                z = z.detach().requires_grad_(True)
                dz = field(s, z)
                grads = torch.autograd.grad(dz, (z, *params), -a, allow_unused=True)
                if integral_loss is not None:
                    # d/ds of the adjoint gains -dg/dz, of the parameters' adjoint -dg/dθ.
                    loss = integral_loss(s, z).sum()
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

        state = torch.cat(
            [sol[-1].reshape(-1), grad_sol[-1].reshape(-1), sol.new_zeros(sum(sizes))]
        )
        norm = ErrorNorm(2 * n) if gradient.seminorm else FULL_NORM
        for i in range(len(t) - 1, 0, -1):
            states = backend.integrate(
                dynamics,
                state,
                t[i - 1 : i + 1].flip(0),
                norm=norm,
                tally=tally,
                solver=gradient.solver,
                atol=gradient.atol,
                rtol=gradient.rtol,
            )
            state = states[-1].clone()
            # The state is reset to the forward solution: no drift from the backsolve.
            state[:n] = sol[i - 1].reshape(-1)
            state[n : 2 * n] += grad_sol[i - 1].reshape(-1)
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
    gradient: Any,
    field: nn.Module,
    z0: Tensor,
    t: Tensor,
    norm: ErrorNorm,
    tally: NFETally,
    integral_loss: Any = None,
) -> Tensor:
    """Solve ``dz/dt = field(t, z)`` with gradients from a backsolve adjoint.

    Args:
        backend: integrates the forward and the backward solves.
        gradient: the adjoint's options (``solver``, ``atol``, ``rtol``, ``seminorm``).
        field: the vector field, called as ``field(t, z)``; its parameters get gradients.
        z0: initial state, any shape.
        t: times, 1-D and strictly monotonic.
        norm: the forward solve's error norm.
        tally: counts the steps.
        integral_loss: ``g(t, z)``, whose integral over the solve joins the loss: its
            gradients with respect to ``z0`` and the field's parameters are added.

    Returns:
        The states at the times ``t``: ``[len(t), *z0.shape]``. No gradient flows to ``t``.
    """
    params = tuple(p for p in field.parameters() if p.requires_grad)
    setup = (backend, gradient, norm, tally, integral_loss)
    return _BacksolveAdjoint.apply(field, z0, t, setup, *params)
