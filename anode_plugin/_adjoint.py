"""A backsolve adjoint on torchdyn's ``odeint`` whose error norms we choose.

torchdyn 1.0.6's own adjoint always measures the backward error with a seminorm and
its forward solve with the full norm. This one takes both as options: the backward
solve with the full norm or the seminorm of Kidger, Chen & Lyons (2021), and the
forward solve with a norm over the leading entries only, which keeps the integrals
of the regularisers out of step-size control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torchdyn.numerics.odeint import odeint

__all__ = ["AdjointOptions", "adjoint_odeint"]


@dataclass(frozen=True)
class AdjointOptions:
    """How the forward and the adjoint solves are integrated.

    Attributes:
        solver: torchdyn solver module of the forward solve.
        atol: absolute tolerance of the forward solve.
        rtol: relative tolerance of the forward solve.
        solver_adjoint: torchdyn solver module of the adjoint solve.
        atol_adjoint: absolute tolerance of the adjoint solve.
        rtol_adjoint: relative tolerance of the adjoint solve.
        seminorm: measure the adjoint's error on the state and its adjoint only, not on
            the parameters' adjoint (Kidger et al., 2021).
        forward_entries: measure the forward error on this many leading entries of the
            flattened state; ``None`` for all of them.
    """

    solver: nn.Module
    atol: float
    rtol: float
    solver_adjoint: nn.Module
    atol_adjoint: float
    rtol_adjoint: float
    seminorm: bool
    forward_entries: int | None = None


class _BacksolveAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, field: nn.Module, z0: Tensor, t: Tensor, options: Any, *params: Tensor):
        forward_norm = (
            (False, None) if options.forward_entries is None else (True, options.forward_entries)
        )
        _, sol = odeint(
            field,
            z0,
            t,
            options.solver,
            atol=options.atol,
            rtol=options.rtol,
            seminorm=forward_norm,
        )
        ctx.field, ctx.options, ctx.params = field, options, params
        ctx.save_for_backward(t, sol)
        return sol

    @staticmethod
    def backward(ctx: Any, grad_sol: Tensor):
        t, sol = ctx.saved_tensors
        field, options, params = ctx.field, ctx.options, ctx.params
        shape, n = sol.shape[1:], sol[0].numel()
        sizes = [p.numel() for p in params]

        def dynamics(s: Tensor, state: Tensor) -> Tensor:
            z, a = state[:n].view(shape), state[n : 2 * n].view(shape)
            with torch.enable_grad():
                z = z.detach().requires_grad_(True)
                dz = field(s, z)
                grads = torch.autograd.grad(dz, (z, *params), -a, allow_unused=True)
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
        norm = (True, 2 * n) if options.seminorm else (False, None)
        for i in range(len(t) - 1, 0, -1):
            _, states = odeint(
                dynamics,
                state,
                t[i - 1 : i + 1].flip(0),
                options.solver_adjoint,
                atol=options.atol_adjoint,
                rtol=options.rtol_adjoint,
                seminorm=norm,
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


def adjoint_odeint(field: nn.Module, z0: Tensor, t: Tensor, options: AdjointOptions) -> Tensor:
    """Solve ``dz/dt = field(t, z)`` with gradients from a backsolve adjoint.

    Args:
        field: the vector field, called as ``field(t, z)``; its parameters get gradients.
        z0: initial state, any shape.
        t: times, 1-D and increasing.
        options: solvers, tolerances and norms.

    Returns:
        The states at the times ``t``: ``[len(t), *z0.shape]``. No gradient flows to ``t``.
    """
    params = tuple(p for p in field.parameters() if p.requires_grad)
    return _BacksolveAdjoint.apply(field, z0, t, options, *params)
