"""The instantaneous change of variables: a state integrated with its log-determinant.

``LogDetField`` integrates the flattened state ``z`` of a continuous normalizing flow
together with one accumulator per sample, ``d(log det)/dt = tr(df/dz)`` (Chen et al.,
2018), so that one solve gives both ``z(T)`` and ``log|det dz(T)/dz(0)|``; with adjoint
sensitivity their gradients come out of the same adjoint solve, as for the
regularisers of ``anode_plugin._regularisers``. The trace is either exact (one vector-Jacobian
product per state entry: for small states) or Hutchinson's unbiased estimate
``eps^T (df/dz) eps`` with one probe ``eps`` per solve (Grathwohl et al., 2019).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._probes import PROBES, draw_probe
from .._validation import check_choice

__all__ = ["TRACES", "LogDetField", "check_log_det"]

TRACES = ("exact", "hutchinson")


def check_log_det(trace: str, probe: str, sensitivity: str) -> None:
    """Check the log-determinant's ``trace`` and ``probe``, and that the gradient method
    (``sensitivity``) carries the log-determinant."""
    check_choice("trace", trace, TRACES)
    check_choice("probe", probe, PROBES)
    if sensitivity not in ("autograd", "adjoint"):
        raise ValueError(
            "AugmentedCNF needs sensitivity='autograd' or 'adjoint', got "
            f"sensitivity={sensitivity!r}: the interpolated adjoint's spline does not "
            "carry the log-determinant."
        )


class LogDetField(nn.Module):
    """The system ``(dz/dt, d(log det)/dt) = (f(t, z), tr(df/dz))``, one row per sample.

    One evaluation of this system is one evaluation of the vector field (the trace
    reuses the field's graph), so NFE counts are those of the plain flow. Call
    :meth:`start` before each solve.

    Args:
        field: the model's vector field on states ``[batch, n]``.
        trace: ``'exact'`` or ``'hutchinson'``.
        probe: the Hutchinson probe's distribution, ``'gaussian'`` or ``'rademacher'``.
        traced: how many leading entries of each sample's flattened state the trace
            covers; ``None``: all. An exactly augmented flow traces its data entries
            only: its augmented entries do not depend on the data, so the Jacobian is
            block triangular and the data's log-determinant is the trace of its block.

    Shape:
        - state: ``[batch, n + 1]``: each sample's ``z`` flattened, then its log-determinant.
    """

    def __init__(self, field: nn.Module, trace: str, probe: str, traced: int | None = None) -> None:
        super().__init__()
        self.field = field
        self.trace = trace
        self.probe_kind = probe
        self.traced = traced
        self.shape: torch.Size = torch.Size()
        self.entries = 0
        self.probe: Tensor | None = None

    def start(self, z0: Tensor) -> Tensor:
        """Draw the probe of a new solve; returns the initial state ``[batch, n + 1]``
        (log det 0)."""
        self.shape, self.entries = z0.shape, z0[0].numel()
        self.probe = None
        if self.trace == "hutchinson":
            self.probe = draw_probe(z0, self.probe_kind)
            if self.traced is not None:  # eps^T J eps over the traced block only
                self.probe.flatten(1)[:, self.traced :] = 0
        rows = z0.reshape(z0.shape[0], -1)
        return torch.cat([rows, rows.new_zeros(rows.shape[0], 1)], 1)

    def ode_state(self, state: Tensor) -> Tensor:
        """The flow's state ``z`` within a state of this system."""
        return state[:, : self.entries].reshape(self.shape)

    def split(self, sol: Tensor) -> tuple[Tensor, Tensor]:
        """The states ``[time, *z0.shape]`` and the log-determinants ``[time, batch]``."""
        z = sol[..., : self.entries].reshape(sol.shape[0], *self.shape)
        return z, sol[..., self.entries]

    def forward(self, t: Tensor, state: Tensor) -> Tensor:
        z = self.ode_state(state)
        # The trace needs a graph even when the caller has none (the adjoint's forward
        # solve, evaluation); it is kept (create_graph) only when the caller has one, so
        # that training differentiates through it.
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            dz = self.field(t, z)
            trace = self._trace(dz, z, keep_graph)
        if not keep_graph:
            dz, trace = dz.detach(), trace.detach()
        return torch.cat([dz.reshape(dz.shape[0], -1), trace.reshape(-1, 1)], 1)

    def _trace(self, dz: Tensor, z: Tensor, keep_graph: bool) -> Tensor:
        if not dz.requires_grad:  # a field that does not depend on the state
            return dz.new_zeros(self.shape[0])
        if self.trace == "hutchinson":
            (vjp,) = torch.autograd.grad(
                dz, z, self.probe, create_graph=keep_graph, allow_unused=True
            )
            if vjp is None:
                return dz.new_zeros(self.shape[0])
            return (vjp * self.probe).flatten(1).sum(1)
        flat = dz.flatten(1)
        trace = dz.new_zeros(self.shape[0])
        for i in range(flat.shape[1] if self.traced is None else self.traced):
            (row,) = torch.autograd.grad(
                flat[:, i].sum(), z, create_graph=keep_graph, retain_graph=True, allow_unused=True
            )
            if row is not None:
                trace = trace + row.flatten(1)[:, i]
        return trace
