"""The base of the backends: one ODE library each, its options validated once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from torch import Tensor, nn

from ._evaluations import NO_LIMITS, Evaluations, Limits, span_of
from ._norms import FULL_NORM, ErrorNorm
from ._statistics import Solution

__all__ = ["AdjointSupport", "Backend", "LibraryAdjoint", "no_interpolated_adjoint"]


class LibraryAdjoint(NamedTuple):
    """A library's own adjoint, run forward: its solution, the counter that its backward
    solve (run later by the autograd engine) counts into, and the times of the solution
    where they are not the requested ones (torchdyn's interpolated adjoint)."""

    solution: Solution
    backward: Evaluations
    times: Tensor | None = None


@dataclass(frozen=True)
class AdjointSupport:
    """The adjoints a backend offers, declared once (:attr:`Backend.ADJOINTS`).

    Data, as a Butcher tableau is: our backsolve adjoint runs on every backend, a
    library's own where these fields say it computes the adjoint asked for
    (:class:`~anode_plugin.solve.Adjoint` and
    :class:`~anode_plugin.solve.InterpolatedAdjoint` read them; nothing else decides).

    Attributes:
        seminorm: the backward error norm that ``Adjoint(seminorm=None)`` means where our
            adjoint runs: ``True`` the seminorm, ``False`` the full norm.
        library_seminorms: the ``seminorm`` values (``None``, ``True``, ``False``) for
            which the library's own backsolve adjoint runs (:meth:`Backend.library_adjoint`)
            when there is no integral loss (no library adjoint has a term for one);
            ``()``: the library has none that we run.
        library_forward_norms: whether the library's adjoint takes a forward norm other
            than the full one (``ErrorNorm(entries=k)``).
        interpolated: whether the library has an interpolated adjoint
            (:meth:`Backend.interpolated_adjoint`).
    """

    seminorm: bool = False
    library_seminorms: tuple[bool | None, ...] = ()
    library_forward_norms: bool = False
    interpolated: bool = False


def no_interpolated_adjoint(backend: Backend) -> ValueError:
    """The error of asking ``backend`` for an interpolated adjoint it does not offer."""
    return ValueError(
        f"sensitivity='interpolated_adjoint' is torchdyn's; backend={backend.name!r} "
        "has no interpolated adjoint."
    )


class Backend(ABC):
    """Integrates ``dz/dt = f(t, z)`` with one library's solvers.

    Subclasses are frozen dataclasses that validate their options on construction and
    expose the library's solver names in :attr:`SOLVERS`, its sensitivities in
    :attr:`SENSITIVITIES` and the adjoints it offers in :attr:`ADJOINTS`. The gradient
    methods (:mod:`anode_plugin.solve`) call them; a backend never calls a gradient
    method. Each call returns the solve's statistics.
    """

    #: The backend's name, as given to ``AugmentedNeuralODE(backend=...)``.
    name: ClassVar[str]
    #: Solver names the backend takes.
    SOLVERS: ClassVar[tuple[str, ...]]
    #: Sensitivities the backend takes.
    SENSITIVITIES: ClassVar[tuple[str, ...]]
    #: The adjoints the backend offers: ours with the full norm by default, no other.
    ADJOINTS: ClassVar[AdjointSupport] = AdjointSupport()
    #: Whether a solver module (torchdyn's) is taken in place of a solver name.
    SOLVER_MODULES: ClassVar[bool] = False
    #: Whether torchdyn's dict states (``{name: tensor}``) are integrated.
    DICT_STATES: ClassVar[bool] = False
    #: The extra options of :meth:`from_options` this backend takes, and what each is.
    OPTIONS: ClassVar[dict[str, str]] = {}

    solver: str | nn.Module
    atol: float
    rtol: float

    @classmethod
    def from_options(
        cls, solver: str | nn.Module, atol: float, rtol: float, **options: Any
    ) -> Backend:
        """The backend of ``AugmentedNeuralODE``'s flat options; ``options`` holds the
        extras (``solver_options``, ``interpolator``) that are not ``None``."""
        return cls(solver, atol, rtol, **options)

    def _check_tensor_state(self, z0: Any) -> None:
        """Refuse torchdyn's dict states in a backend without :attr:`DICT_STATES`."""
        if not isinstance(z0, Tensor):
            raise TypeError(
                f"backend={self.name!r} integrates tensor states, got a {type(z0).__name__}; "
                "torchdyn's dict states need backend='torchdyn'."
            )

    @abstractmethod
    def integrate(
        self,
        field: Callable[[Tensor, Any], Any],
        z0: Any,
        t: Tensor,
        *,
        norm: ErrorNorm = FULL_NORM,
        limits: Limits = NO_LIMITS,
        solver: Any = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> Solution:
        """Solve with gradients through the solver's operations (or none, under no_grad).

        Args:
            field: ``f(t, z)``.
            z0: initial state, any shape; its first dimension indexes samples when it
                has two or more.
            t: times, 1-D and strictly monotonic.
            norm: the error norm of step-size control.
            limits: the solve's budget and the module its errors name.
            solver: another solver than :attr:`solver` (an adjoint's).
            atol: another absolute tolerance than :attr:`atol`.
            rtol: another relative tolerance than :attr:`rtol`.

        Returns:
            The states at the times ``t``, ``[len(t), *z0.shape]``, and this call's
            statistics.
        """

    def library_adjoint(
        self,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        norm: ErrorNorm,
        limits: Limits,
        solver: Any,
        atol: float,
        rtol: float,
        seminorm: bool | None,
    ) -> LibraryAdjoint:
        """Solve with the library's own backsolve adjoint, where :attr:`ADJOINTS` says it
        computes the adjoint asked for."""
        raise ValueError(f"backend={self.name!r} has no adjoint of its own.")

    def interpolated_adjoint(
        self,
        field: nn.Module,
        z0: Tensor,
        t: Tensor,
        *,
        limits: Limits,
        solver: Any,
        atol: float,
        rtol: float,
        integral_loss: Any = None,
    ) -> LibraryAdjoint:
        """Solve with the library's interpolated adjoint, where ``ADJOINTS.interpolated``."""
        raise no_interpolated_adjoint(self)

    @staticmethod
    def counter(field: Callable[[Tensor, Any], Any], t: Tensor, limits: Limits) -> Evaluations:
        """The :class:`Evaluations` of one call: ``field`` counted over the span of ``t``
        (a backward solve of our adjoint counts with its own, around the call)."""
        return Evaluations(field, limits, "forward", span_of(t))
