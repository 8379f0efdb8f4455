"""One direction of one solve: its evaluations counted, within budget, and watched.

A backend wraps the field it integrates in an :class:`Evaluations` for each call; the
counts become the :class:`~anode_plugin.solve.SolveStats` the call returns. Nothing is
shared between solves: a forward solve and each backward solve count on their own.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .._errors import NFEBudgetExceeded, NonFiniteStateError, StepSizeUnderflowError
from .._validation import check_positive_int
from ._statistics import PerSampleStats, SolveStats

__all__ = ["GUARD_INTERVAL", "NO_LIMITS", "AdjointCounters", "Evaluations", "Limits", "span_of"]

# Every this many evaluations the state, its derivative and the time are checked. A
# NaN or a step-size underflow makes adaptive solvers reject (or repeat) steps forever,
# so a check this sparse still stops them within a few steps, at a negligible cost.
GUARD_INTERVAL = 32


@dataclass(frozen=True)
class Limits:
    """What every solve of a model is held to.

    Attributes:
        max_nfe: evaluations allowed to each solve, forward or backward; ``None``: any.
        watched: the module whose parameters an error names when the state turns NaN
            (the user's vector field); ``None``: none.
    """

    max_nfe: int | None = None
    watched: nn.Module | None = None

    def __post_init__(self) -> None:
        # A budget of 0 or below would fail every solve later, as "hard to integrate".
        if self.max_nfe is not None:
            check_positive_int("max_nfe", self.max_nfe)
        if self.watched is not None and not isinstance(self.watched, nn.Module):
            raise TypeError(
                f"`watched` must be an nn.Module (the vector field) or None, got "
                f"{type(self.watched).__name__}."
            )


#: No budget and nothing watched.
NO_LIMITS = Limits()


class Evaluations:
    """``f(t, z)`` of one solve direction: counted, budgeted and guarded.

    Args:
        field: ``f(t, z)``. A composite system (regularisers, log-determinant, the
            adjoint's) may define ``ode_state(z)``: the ODE's own state within ``z``,
            which a budget error reports.
        limits: the budget and the watched module.
        direction: ``'forward'`` or ``'backward'``.
        span: the solve's first and last time, for error messages.
    """

    def __init__(
        self,
        field: Callable[[Tensor, Any], Any],
        limits: Limits,
        direction: str,
        span: tuple[float, float] | None = None,
    ) -> None:
        self.field, self.limits, self.direction, self.span = field, limits, direction, span
        # An int compared on every evaluation: cheaper than testing for None each time.
        self._limit = sys.maxsize if limits.max_nfe is None else limits.max_nfe
        self.nfe = 0
        self.accepted = 0
        self.rejected = 0
        self._countdown = GUARD_INTERVAL
        self._last_time: float | None = None

    def __call__(self, t: Tensor, z: Any, *args: Any) -> Any:
        self.nfe += 1
        if self.nfe > self._limit:
            raise self._over_budget(t, z)
        dz = self.field(t, z, *args)  # torchdyn's solver steps pass their `args` on
        self._countdown -= 1
        if self._countdown == 0 and isinstance(z, Tensor):
            self._countdown = GUARD_INTERVAL
            self._guard(t, z, dz)
        return dz

    def charge(self, evaluations: int, t: float, z: Tensor) -> None:
        """Count ``evaluations`` made without this wrapper (a compiled step's, of
        :attr:`field` itself), within the budget: the step from ``(t, z)`` is refused
        whole when it would exceed it."""
        if self.nfe + evaluations > self._limit:
            self.nfe = self._limit + 1
            raise self._over_budget(t, z)
        self.nfe += evaluations

    def restart(self) -> None:
        """Count a new solve: every count, the budget and the guard start afresh."""
        self.nfe = self.accepted = self.rejected = 0
        self._countdown = GUARD_INTERVAL
        self._last_time = None

    def step(self, accepted: bool) -> None:
        """Count one step attempt of the solver."""
        if accepted:
            self.accepted += 1
        else:
            self.rejected += 1

    def stats(self, per_sample: PerSampleStats | None = None) -> SolveStats:
        """The counts so far, as an immutable record."""
        return SolveStats(self.nfe, self.accepted, self.rejected, per_sample)

    def joint_stats(self, z0: Any) -> SolveStats:
        """The counts, each sample of a batched state ``z0`` given the batch's."""
        if not isinstance(z0, Tensor) or z0.ndim < 2:
            return self.stats()
        batch = PerSampleStats.joint(z0.shape[0], self.nfe, self.accepted, self.rejected)
        return self.stats(batch)

    # ------------------------------------------------------------------ errors
    def _over_budget(self, t: Tensor, z: Any) -> NFEBudgetExceeded:
        ode_state = getattr(self.field, "ode_state", None)
        state = None
        if isinstance(z, Tensor):
            state = (z if ode_state is None else ode_state(z)).detach().clone()
        times = t.detach().clone() if isinstance(t, Tensor) and t.numel() > 1 else None
        return NFEBudgetExceeded(
            self.nfe, self._limit, self.direction, state=state, time=_first_time(t), times=times
        )

    def _guard(self, t: Tensor, z: Tensor, dz: Any) -> None:
        """Stop a solve whose state went non-finite or whose time no longer advances."""
        # Per-sample solvers give each sample its time: a solve stalls when none moves.
        time = float(t.detach().sum()) if isinstance(t, Tensor) else float(t)
        for name, value in (("state", z), ("derivative", dz)):
            if isinstance(value, Tensor) and not bool(torch.isfinite(value).all()):
                raise NonFiniteStateError(self.non_finite_message(name, _first_time(t)))
        if self._last_time is not None and time == self._last_time:
            raise StepSizeUnderflowError(
                f"The solver's step size underflowed: time stayed at {self._stuck(t)} for "
                f"{GUARD_INTERVAL} evaluations (evaluation {self.nfe}). The flow is too "
                "stiff to integrate; try looser tolerances, more augmented dimensions, "
                "weight decay, float64, or a `max_nfe` budget."
            )
        self._last_time = time

    def _stuck(self, t: Any) -> str:
        """The time a stalled solve stayed at: with a time per sample, the sample's
        farthest from the end (the others may have finished)."""
        if not isinstance(t, Tensor) or t.numel() == 1 or self.span is None:
            return f"t={_first_time(t):.6g}"
        times = t.detach().reshape(-1)
        sample = int((times - self.span[1]).abs().argmax())
        return f"t={float(times[sample]):.6g} (sample {sample})"

    def non_finite_message(self, name: str, time: float) -> str:
        """Why the ``name`` (``'state'``, ``'derivative'``) became non-finite at ``time``:
        the weights if they are, else the likely causes."""
        watched = self.limits.watched
        broken = [
            n
            for n, p in (watched.named_parameters() if watched is not None else ())
            if not bool(torch.isfinite(p.detach()).all())
        ]
        if broken:
            # NaN weights make the derivative NaN, and then the solver's time too: name
            # the weights, the cause, rather than a meaningless time.
            return (
                f"The vector field's parameters contain NaN or infinite values "
                f"({', '.join(broken[:5])}{', ...' if len(broken) > 5 else ''}), so the "
                f"{name} of the ODE became non-finite (evaluation {self.nfe}). The weights "
                "were corrupted, typically by a diverged optimisation step: restore them from "
                "a checkpoint, then lower the learning rate or clip gradients."
            )
        when = f"at t={time:.6g}" if math.isfinite(time) else "(the solver's time became NaN)"
        span = self.span
        over = "" if span is None else f" while integrating from t={span[0]:g} to t={span[1]:g}"
        causes = (
            "Common causes: a learning rate too high, exploding weights, inputs not "
            "normalised. Lower the learning rate, add weight decay or gradient clipping, or "
            "check the data."
        )
        if span is not None and (not math.isfinite(time) or abs(span[1] - span[0]) > 10):
            # The step size blew up with the state: over a long horizon even a sound field
            # grows without bound, so the horizon is the first suspect.
            causes = (
                f"The horizon is the first suspect: over {abs(span[1] - span[0]):g} time "
                "units a field's state can grow without bound (the paper integrates over "
                "[0, 1]); shorten `t_span`, or rescale the field. " + causes
            )
        return (
            f"The {name} of the ODE became NaN or infinite {when}{over} (detected at "
            f"evaluation {self.nfe}). {causes}"
        )


class AdjointCounters(nn.Module):
    """The counters of a library's own adjoint: ``f(t, z)`` and step attempts go to the
    forward counter until :meth:`to_backward`, to the backward one after (the library's
    backward solve evaluates the function it was given, later, from the autograd engine).

    The field is a submodule: torchdyn's adjoint finds the parameters to differentiate in
    the function it is given.
    """

    def __init__(self, field: nn.Module, t: Tensor, limits: Limits) -> None:
        super().__init__()
        self.field = field
        self.forward_counter = Evaluations(field, limits, "forward", span_of(t))
        self.backward_counter = Evaluations(field, limits, "backward", span_of(t.flip(0)))
        self.current = self.forward_counter

    def forward(self, t: Tensor, z: Any, *args: Any) -> Any:
        return self.current(t, z, *args)

    # Called on every evaluation: straight to the counter, past nn.Module's hook machinery
    # (a module only so that its parameters are found).
    __call__ = forward

    def step(self, accepted: bool) -> None:
        """Count a step attempt of the current direction."""
        self.current.step(accepted)

    def to_backward(self) -> None:
        """The forward solve has returned: what follows is the backward solve's."""
        self.current = self.backward_counter


def span_of(t: Tensor) -> tuple[float, float]:
    """The first and last time of ``t``, for error messages."""
    return float(t[0]), float(t[-1])


def _first_time(t: Any) -> float:
    return float(t.detach().reshape(-1)[0]) if isinstance(t, Tensor) else float(t)
