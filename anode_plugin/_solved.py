"""``SolvedModel``: what every model that a :class:`~anode_plugin.solve.Solve` integrates
shares: the solve and its budget, the statistics it returns, the checks of a state, and
one integration. ``AugmentedNeuralODE`` and ``AugmentedCNF`` build on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from ._field_call import FieldCall
from ._nfe import ModelStats, SolveStatistics
from ._validation import check_positive_int, check_state, check_t_span, state_leaf
from .solve import ErrorNorm, Solve, SolveAttributes, resolve_solve
from .solve._evaluations import Limits
from .solve._options import SOLVE_OPTION_DEFAULTS

__all__ = ["FLAT_SOLVE_OPTIONS", "SolvedModel", "flat_solve_options"]

#: The flat keyword arguments a model turns into its :class:`Solve`: the parameters of
#: ``solve_from_options``, declared (with their defaults) there alone.
FLAT_SOLVE_OPTIONS = tuple(SOLVE_OPTION_DEFAULTS)


def flat_solve_options(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The flat solve options among a constructor's ``arguments`` (e.g. its ``locals()``)."""
    return {name: arguments[name] for name in FLAT_SOLVE_OPTIONS if name in arguments}


class SolvedModel(SolveAttributes, SolveStatistics):
    """A model integrated by :attr:`solve`: its budget, statistics, state checks and solve.

    A mixin for ``nn.Module`` subclasses (torchdyn's ``NeuralODE`` among them). The
    subclass sets :attr:`vf`, the counted vector field, and calls :meth:`_init_solve`.
    The solve's options read as torchdyn's attributes (:class:`SolveAttributes`); the
    evaluations and steps add up in :attr:`nfe`, :attr:`steps`, :attr:`stats`.
    """

    solve: Solve
    vf: FieldCall
    max_nfe: int | None
    t_span: Tensor

    def _init_solve(
        self,
        solve: Solve | None,
        options: Mapping[str, Any],
        max_nfe: int | None,
        t_span: Sequence[float] | Tensor,
    ) -> None:
        """Resolve the solve (``solve``, else the flat ``options``) and set the budget,
        the statistics and the default times. ``nn.Module.__init__`` has run."""
        self.solve = resolve_solve(solve, **options)
        self.max_nfe = None if max_nfe is None else check_positive_int("max_nfe", max_nfe)
        self._statistics = ModelStats()
        self.register_buffer("t_span", check_t_span(t_span), persistent=False)

    def _user_parameters(self) -> list[Tensor]:
        """The parameters a state must match in device and dtype."""
        return self.vf.user_parameters()

    def _check_state(self, name: str, x: Tensor) -> Tensor:
        """``x`` checked as a state (device, dtype, finite, a batch) for this model's solve."""
        parameters = self._user_parameters()
        x = check_state(name, x, device=self.t_span.device, parameters=parameters)
        if not parameters:
            self.vf.match_placeholder(x.dtype)  # a parameter-free field takes any dtype
        self.solve.check_resolvable(x.dtype)
        return x

    def _times(self, t_span: Sequence[float] | Tensor | None, like: Any) -> Tensor:
        """The integration times (``t_span``, else the model's) on ``like``'s device and dtype."""
        like = state_leaf(like)
        t = self.t_span if t_span is None else check_t_span(t_span)
        return t.to(device=like.device, dtype=like.dtype)

    @staticmethod
    def _at_rest(z0: Tensor, t: Tensor) -> Tensor:
        """The solution from a state with no entries (an empty batch): ``z0`` at every time
        of ``t``, ``[len(t), *z0.shape]``, without a solve (dopri5 would loop forever)."""
        return z0.unsqueeze(0).repeat(len(t), *(1,) * z0.ndim)

    def _limits(self) -> Limits:
        field = self.vf.field
        return Limits(self.max_nfe, field if isinstance(field, nn.Module) else None)

    def _integrate(
        self,
        field: Any,
        state: Any,
        t: Tensor,
        *,
        norm: ErrorNorm | None = None,
        solve: Solve | None = None,
        integral_loss: Any = None,
    ) -> Any:
        """One solve of ``field`` from ``state`` over ``t``, its statistics recorded.

        Returns:
            The states at ``t``: ``[len(t), *state.shape]``.
        """
        solution = (solve or self.solve)(
            field,
            state,
            t,
            norm=ErrorNorm() if norm is None else norm,
            limits=self._limits(),
            integral_loss=integral_loss,
            record_backward=self._record_backward,
        )
        self._record_forward(solution.stats)
        return solution.ys
