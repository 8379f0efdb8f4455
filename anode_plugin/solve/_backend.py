"""The base of the backends: one ODE library each, its options validated once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from torch import Tensor, nn

from .._nfe import NFETally
from ._norms import ErrorNorm

__all__ = ["Backend"]


class Backend(ABC):
    """Integrates ``dz/dt = f(t, z)`` with one library's solvers.

    Subclasses are frozen dataclasses that validate their options on construction and
    expose the library's solver names in :attr:`SOLVERS` and its sensitivities in
    :attr:`SENSITIVITIES`. Gradient methods (:mod:`anode_plugin.solve`) call
    :meth:`integrate` for plain solves and :meth:`library_adjoint` for the library's
    own adjoint.
    """

    #: The backend's name, as given to ``AugmentedNeuralODE(backend=...)``.
    name: ClassVar[str]
    #: Solver names the backend takes.
    SOLVERS: ClassVar[tuple[str, ...]]
    #: Sensitivities the backend takes.
    SENSITIVITIES: ClassVar[tuple[str, ...]]

    solver: str | nn.Module
    atol: float
    rtol: float

    @abstractmethod
    def integrate(
        self,
        field: Callable[[Tensor, Tensor], Tensor],
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm,
        tally: NFETally,
        solver: Any = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> Tensor:
        """Solve with gradients through the solver's operations (or none, under no_grad).

        Args:
            field: ``f(t, z)``.
            z0: initial state, any shape.
            t: times, 1-D and strictly monotonic.
            norm: the error norm of step-size control.
            tally: counts the solve's accepted and rejected steps.
            solver: another solver than :attr:`solver` (an adjoint's).
            atol: another absolute tolerance than :attr:`atol`.
            rtol: another relative tolerance than :attr:`rtol`.

        Returns:
            The states at the times ``t``: ``[len(t), *z0.shape]``.
        """

    def library_adjoint(
        self,
        gradient: Any,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm,
        tally: NFETally,
        integral_loss: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> Tensor:
        """Solve with the library's own adjoint; a backend without one refuses.

        ``integral_loss``, ``g(t, z)``: its integral over the solve is part of the loss
        whose gradients the adjoint computes (torchdyn's ``integral_loss``)."""
        raise ValueError(f"backend={self.name!r} has no adjoint of its own.")
