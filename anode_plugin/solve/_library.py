"""A library's own adjoint inside a graph of ours, so that its backward solve ends
where we can see it: the statistics of that solve are recorded when it returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ._backend import LibraryAdjoint
from ._statistics import Solution, SolveStats

__all__ = ["RecordBackward", "run_library_adjoint"]

#: Receives the statistics of each backward solve, when it has finished.
RecordBackward = Callable[[SolveStats], None]


def run_library_adjoint(
    run: Callable[[Tensor], LibraryAdjoint],
    field: nn.Module,
    z0: Tensor,
    record_backward: RecordBackward | None,
) -> tuple[Solution, Tensor | None]:
    """``run(z0)``, its backward solve's statistics given to ``record_backward``.

    Args:
        run: solves from ``z0`` with a library's adjoint.
        field: the field whose parameters get gradients.
        z0: the initial state.
        record_backward: receives the backward solve's statistics; ``None``: nobody.

    Returns:
        The solution (its ``ys`` the states, ``[len(t), *z0.shape]``) and the times of its
        rows where they are not the requested ones (``LibraryAdjoint.times``).
    """
    params = tuple(p for p in field.parameters() if p.requires_grad)
    if not torch.is_grad_enabled() or not (z0.requires_grad or params):
        result = run(z0)
        return result.solution, result.times
    holder: dict[str, Any] = {}
    ys = _LibraryBackward.apply(run, record_backward, holder, z0, *params)
    result = holder["result"]
    return Solution(ys, result.solution.stats), result.times


class _LibraryBackward(torch.autograd.Function):
    """The library's graph, built inside ours: our backward runs the library's, then
    records the statistics of its backward solve."""

    @staticmethod
    def forward(
        ctx: Any,
        run: Callable[[Tensor], LibraryAdjoint],
        record_backward: RecordBackward | None,
        holder: dict[str, Any],
        z0: Tensor,
        *params: Tensor,
    ) -> Tensor:
        with torch.enable_grad():
            inner = z0.detach().requires_grad_(z0.requires_grad)
            result = run(inner)
        holder["result"] = result
        ctx.inner, ctx.ys, ctx.counter = inner, result.solution.ys, result.backward
        ctx.record_backward, ctx.params = record_backward, params
        return result.solution.ys.detach()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        counter = ctx.counter
        counter.restart()  # a second backward (retain_graph) is a solve of its own
        wanted = [ctx.inner] if ctx.inner.requires_grad else []
        grads = torch.autograd.grad(
            ctx.ys, (*wanted, *ctx.params), grad, allow_unused=True, retain_graph=True
        )
        if ctx.record_backward is not None:
            ctx.record_backward(counter.stats())
        grad_z0 = grads[0] if wanted else None
        return (None, None, None, grad_z0, *grads[len(wanted) :])
