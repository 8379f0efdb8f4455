"""Regularisers that lower NFE (Finlay et al., 2020), integrated alongside the state.

``RegularisedField`` integrates the flattened state ``z`` together with one
accumulator per sample and regulariser, so the integrals come out of the same solve
(and, with adjoint sensitivity, their gradients out of the same adjoint solve):

- ``kinetic``: ``int ||f(t, z)||^2 / n dt``, the kinetic energy of the flow;
- ``jacobian``: ``int ||eps^T df/dz||^2 / n dt``, Hutchinson's unbiased estimate of the
  squared Frobenius norm of the Jacobian with one probe ``eps`` per solve.

``n`` is the number of entries of one sample's state, so that one weight suits vector
and image states alike. The accumulators never enter step-size control: the solver
measures its error on ``z`` alone, so the steps are those of the plain ODE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ._probes import PROBES, draw_probe
from ._solved import SolvedModel
from ._validation import check_choice
from .solve import ErrorNorm

__all__ = [
    "PROBES",
    "REGULARISERS",
    "RegularisedField",
    "RegularisedSolves",
    "check_integrals",
    "check_regularisers",
]

REGULARISERS = ("kinetic", "jacobian")


class RegularisedField(nn.Module):
    """The augmented system ``(dz/dt, d(integrals)/dt)``, one row per sample.

    One evaluation of this system is one evaluation of the vector field, so NFE
    counts are unchanged. Call :meth:`start` before each solve; step-size control
    measures the leading :attr:`entries` of each row (``ErrorNorm(entries)``).

    Args:
        field: the model's vector field, ``f(t, z)``.
        regularisers: names from ``REGULARISERS``, in the order of the accumulators.
        probe: distribution of the Jacobian's Hutchinson probe, one of ``PROBES``.

    Shape:
        - state: ``[batch, n + len(regularisers)]``: each sample's ``z`` flattened
          (``n`` entries), then its accumulators.
    """

    def __init__(self, field: nn.Module, regularisers: tuple[str, ...], probe: str) -> None:
        super().__init__()
        self.field = field
        self.names = regularisers
        self.kinetic = "kinetic" in regularisers
        self.jacobian = "jacobian" in regularisers
        self.probe_kind = probe
        self.shape: torch.Size = torch.Size()
        self.entries = 0
        self.probe: Tensor | None = None

    def start(self, z0: Tensor) -> Tensor:
        """Draw the probe for a new solve; returns the initial state ``[batch, n + k]``."""
        self.shape, self.entries = z0.shape, z0[0].numel()
        if self.jacobian:
            self.probe = draw_probe(z0, self.probe_kind)
        rows = z0.reshape(z0.shape[0], -1)
        return torch.cat([rows, rows.new_zeros(rows.shape[0], len(self.names))], 1)

    def ode_state(self, state: Tensor) -> Tensor:
        """The model's state ``z`` within a state of this system."""
        return state[:, : self.entries].reshape(self.shape)

    def split(self, sol: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The states ``[time, *z0.shape]`` and the integrals ``{name: [batch]}`` at the end."""
        z = sol[..., : self.entries].reshape(sol.shape[0], *self.shape)
        blocks = sol[-1, :, self.entries :]
        return z, dict(zip(self.names, blocks.unbind(1), strict=True))

    def forward(self, t: Tensor, state: Tensor) -> Tensor:
        z = self.ode_state(state)
        rate: dict[str, Tensor] = {}
        if self.jacobian:
            # The vector-Jacobian product needs a graph even when the caller has none (the
            # adjoint's forward solve, evaluation); it is kept only when the caller has one.
            keep_graph = torch.is_grad_enabled()
            with torch.enable_grad():
                if not z.requires_grad:
                    z = z.detach().requires_grad_(True)
                dz = self.field(t, z)
                vjp = None
                if dz.requires_grad:
                    (vjp,) = torch.autograd.grad(
                        dz, z, self.probe, create_graph=keep_graph, allow_unused=True
                    )
            if not keep_graph:
                dz = dz.detach()
            rate["jacobian"] = (
                dz.new_zeros(self.shape[0]) if vjp is None else vjp.pow(2).flatten(1).mean(1)
            )
        else:
            dz = self.field(t, z)
        if self.kinetic:
            rate["kinetic"] = dz.pow(2).flatten(1).mean(1)
        rates = torch.stack([rate[name] for name in self.names], 1)
        return torch.cat([dz.reshape(dz.shape[0], -1), rates], 1)


def check_regularisers(
    regularisers: Sequence[str], probe: str, sensitivity: str
) -> tuple[str, ...]:
    """``regularisers`` as a tuple of distinct names from ``REGULARISERS``; checks the probe."""
    check_choice("jacobian_probe", probe, PROBES)
    if isinstance(regularisers, str):
        regularisers = (regularisers,)
    try:
        names = tuple(regularisers)
    except TypeError:
        raise ValueError(
            f"`regularisers` must be a sequence of names from {REGULARISERS}, got {regularisers!r}."
        ) from None
    for name in names:
        check_choice("regularisers", name, REGULARISERS)
    if len(set(names)) != len(names):
        raise ValueError(f"`regularisers` names each regulariser once, got {names!r}.")
    if names and sensitivity == "interpolated_adjoint":
        raise ValueError(
            "`regularisers` need sensitivity='autograd' or 'adjoint', got "
            "sensitivity='interpolated_adjoint'."
        )
    return names


def check_integrals(
    integral_loss: Callable[[Tensor, Tensor], Tensor] | None,
    regularisers: Sequence[str],
    probe: str,
    sensitivity: str,
) -> tuple[str, ...]:
    """The regularisers' names (:func:`check_regularisers`), and ``integral_loss`` checked:
    a callable or ``None``, never with regularisers (each adds an integral to the solve)."""
    names = check_regularisers(regularisers, probe, sensitivity)
    if integral_loss is not None:
        if not callable(integral_loss):
            raise TypeError(
                "`integral_loss` must be a callable g(t, x) or None, got "
                f"{type(integral_loss).__name__}."
            )
        if names:
            raise ValueError(
                "Pass `integral_loss` or `regularisers`, not both: each adds an integral "
                f"to the solve; got regularisers={names!r}."
            )
    return names


class RegularisedSolves(SolvedModel):
    """The regularisers' part of a model: their integrals, solved alongside its state."""

    integral_loss: Callable[[Tensor, Tensor], Tensor] | None
    regularisers: tuple[str, ...]
    jacobian_probe: str
    _regularisation: dict[str, Tensor]

    def _init_integrals(
        self,
        integral_loss: Callable[[Tensor, Tensor], Tensor] | None,
        regularisers: Sequence[str],
        jacobian_probe: str,
    ) -> None:
        """Check and set the integrals solved with the state (the solve is resolved)."""
        self.regularisers = check_integrals(
            integral_loss, regularisers, jacobian_probe, self.solve.sensitivity
        )
        self.integral_loss, self.jacobian_probe = integral_loss, jacobian_probe
        self._regularisation = {}

    @property
    def regularisation(self) -> dict[str, Tensor]:
        """The regularisers of the last forward solve, per sample: ``{name: [batch]}``; empty
        without ``regularisers``. The values carry gradients when the solve did."""
        return dict(self._regularisation)

    def _regularised_solve(self, z0: Tensor, t: Tensor) -> Tensor:
        """The states at ``t`` from ``z0``, the regularisers' integrals kept aside."""
        if z0.numel() == 0:  # nothing to solve: the integrals of no sample
            self._regularisation = {n: z0.new_zeros(z0.shape[0]) for n in self.regularisers}
            return self._at_rest(z0, t)
        field = RegularisedField(self.vf, self.regularisers, self.jacobian_probe)
        # The integrals are out of step-size control: the steps are the plain ODE's.
        sol = self._integrate(field, field.start(z0), t, norm=ErrorNorm(field.entries))
        sol, self._regularisation = field.split(sol)
        return sol
