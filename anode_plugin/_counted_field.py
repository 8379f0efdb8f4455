"""Adapting any vector field to the solvers' ``(t, x)`` call, with exact NFE counting."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ._errors import (
    NFEBudgetExceeded,
    NonFiniteStateError,
    StateShapeError,
    StepSizeUnderflowError,
)
from ._nfe import NFETally

__all__ = ["CountedField", "call_style", "mark_backward_start"]

# Every this many evaluations the state, its derivative and the time are checked. A
# NaN or a step-size underflow makes adaptive solvers reject (or repeat) steps forever,
# so a check this sparse still stops them within a few steps, at a negligible cost.
GUARD_INTERVAL = 32

# How a user's field is called: f(x), f(t, x), f(t, x, args) or f(t, x, args=args).
_X, _TX, _TX_ARGS, _TX_ARGS_KW = "x", "t, x", "t, x, args", "t, x, args=args"


def call_style(field: Callable[..., Tensor]) -> str:
    """Tell how ``field`` wants to be called, from its signature.

    One required positional parameter means ``f(x)``; two mean ``f(t, x)``; three mean
    ``f(t, x, args)``. A parameter named ``args`` (torchdyn's convention) is passed by
    keyword. Callables without an inspectable signature (builtins such as
    ``torch.tanh``) are called as ``f(x)``.
    """
    target = field.forward if isinstance(field, nn.Module) else field
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return _X
    positional = [
        p
        for p in parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "args"
    ]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in parameters.values())
    every_required = [
        p
        for p in parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(every_required) > 3:
        raise TypeError(
            f"Vector field {field!r} takes {len(every_required)} required arguments "
            f"({', '.join(p.name for p in every_required)}); a vector field is called as "
            "f(x), f(t, x) or f(t, x, args). Give the extra arguments defaults, or bind "
            "them with functools.partial."
        )
    if "args" in parameters and parameters["args"].kind is not inspect.Parameter.VAR_POSITIONAL:
        if len(positional) < 2:
            raise TypeError(
                f"Vector field {field!r} takes `args` but not both `t` and `x`; write it "
                "as f(x), f(t, x) or f(t, x, args)."
            )
        return _TX_ARGS_KW
    if len(required) == 3:
        return _TX_ARGS
    if len(required) == 2 or (varargs and len(required) < 2):
        return _TX
    if len(required) == 1 or (len(required) == 0 and len(positional) >= 1):
        return _TX if len(positional) >= 2 else _X
    raise TypeError(
        f"Vector field {field!r} takes no state argument; write it as f(x), f(t, x) or "
        "f(t, x, args)."
    )


class CountedField(nn.Module):
    """Calls a user's vector field as ``(t, x, args)`` and counts every evaluation.

    It takes the place of torchdyn's ``DEFunc`` wrapper inside the model, so every
    evaluation passes through here exactly once and the count is exact whatever the
    solver library does (initial step selection, rejected steps, adjoint solves).
    Like ``DEFunc``, it hands ``t`` to submodules that keep a ``t`` attribute
    (torchdyn's ``DepthCat``); unlike it, it finds them once rather than per call.

    A state that is not a tensor (torchdyn's dict states) is passed to the field, and
    the field's result back to the solver, unchecked: the solver decides what they are.

    Args:
        field: the user's vector field, written as ``f(x)``, ``f(t, x)`` or
            ``f(t, x, args)``.
        tally: where evaluations are counted.
        optimizable_params: parameters the field uses without owning them (a
            ``functools.partial`` of a module's method): registered here, as torchdyn
            does, so that the adjoints compute their gradients.
    """

    def __init__(
        self,
        field: Callable[..., Tensor],
        tally: NFETally,
        optimizable_params: Iterable[nn.Parameter] = (),
    ) -> None:
        super().__init__()
        if not callable(field):
            raise TypeError(
                f"`vector_field` must be a module or callable, got {type(field).__name__}."
            )
        self.field = field
        own = {id(p) for p in field.parameters()} if isinstance(field, nn.Module) else set()
        for k, parameter in enumerate(optimizable_params):
            if not isinstance(parameter, nn.Parameter):
                raise TypeError(
                    "`optimizable_params` must hold nn.Parameter objects (e.g. "
                    f"`module.parameters()`), got {type(parameter).__name__} at position {k}."
                )
            if id(parameter) not in own:
                self.register_parameter(f"optimizable_parameter_{k}", parameter)
        self.style = call_style(field)
        self.tally = tally
        # `args` of the current solve, set by the model: the solvers do not pass them on.
        self.args: Any = None
        self._time_modules = (
            [m for m in field.modules() if hasattr(m, "t")] if isinstance(field, nn.Module) else []
        )
        self._guard_countdown = GUARD_INTERVAL
        self._guard_last_t: float | None = None
        self._span: tuple[float, float] | None = None
        if not any(True for _ in self.parameters()):
            # Sensitivity code concatenates the field's parameters; give it one to find,
            # as torchdyn does for parameter-free fields.
            self.dummy_parameter = nn.Parameter(torch.zeros(1))

    @property
    def nfe(self) -> float:
        """Evaluations since the last reset, forward and backward together (torchdyn's view)."""
        return float(self.tally.forward + self.tally.backward)

    def start_solve(self, args: Any = None, span: tuple[float, float] | None = None) -> None:
        """Begin a new forward solve: the budget and the stall guard apply to each solve.

        The solvers call ``f(t, z)``: the field keeps the solve's ``args`` (also for its
        backward solve) and hands them to fields written ``f(t, x, args)``. ``span``, the
        first and last time, lets an error name the horizon.
        """
        self.args = args
        self._span = span
        self.tally.start_solve()
        self._guard_countdown = GUARD_INTERVAL
        self._guard_last_t = None

    def start_backward_solve(self) -> None:
        """Begin the backward (adjoint) solve of one forward solve: budget and guard anew."""
        self.tally.start_backward_solve()
        self._guard_countdown = GUARD_INTERVAL
        self._guard_last_t = None

    def user_parameters(self) -> list[nn.Parameter]:
        """The parameters of the user's field and its ``optimizable_params``, without the
        placeholder of a parameter-free one."""
        return [p for name, p in self.named_parameters() if name != "dummy_parameter"]

    def match_placeholder(self, dtype: torch.dtype) -> None:
        """Give a parameter-free field's placeholder the state's dtype (the adjoints use it)."""
        placeholder = getattr(self, "dummy_parameter", None)
        if placeholder is not None and placeholder.dtype != dtype:
            placeholder.data = placeholder.data.to(dtype)

    def _non_finite_parameters(self) -> list[str]:
        if not isinstance(self.field, nn.Module):
            return []
        return [
            name
            for name, p in self.field.named_parameters()
            if not bool(torch.isfinite(p.detach()).all())
        ]

    def _guard(self, t: Tensor, x: Tensor, dx: Tensor) -> None:
        """Stop a solve whose state went non-finite or whose time no longer advances."""
        evaluation = self.tally.forward + self.tally.backward
        time = float(t.detach().reshape(-1)[0]) if isinstance(t, Tensor) else float(t)
        for name, value in (("state", x), ("derivative", dx)):
            if not bool(torch.isfinite(value).all()):
                raise NonFiniteStateError(self._non_finite_message(name, time, evaluation))
        if self._guard_last_t is not None and time == self._guard_last_t:
            raise StepSizeUnderflowError(
                f"The solver's step size underflowed: time stayed at t={time:.6g} for "
                f"{GUARD_INTERVAL} evaluations (evaluation {evaluation}). The flow is too stiff "
                "to integrate; try looser tolerances, more augmented dimensions, weight "
                "decay, float64, or a `max_nfe` budget."
            )
        self._guard_last_t = time

    def _over_budget(self, nfe: int, direction: str, t: Tensor, x: Tensor) -> NFEBudgetExceeded:
        time = float(t.detach().reshape(-1)[0]) if isinstance(t, Tensor) else float(t)
        state = x.detach().clone() if isinstance(x, Tensor) else None
        return NFEBudgetExceeded(nfe, self.tally.limit, direction, state=state, time=time)

    def _non_finite_message(self, name: str, time: float, evaluation: int) -> str:
        broken = self._non_finite_parameters()
        if broken:
            # NaN weights make the derivative NaN, and then the solver's time too: name
            # the weights, the cause, rather than a meaningless time.
            return (
                f"The vector field's parameters contain NaN or infinite values "
                f"({', '.join(broken[:5])}{', ...' if len(broken) > 5 else ''}), so the "
                f"{name} of the ODE became non-finite (evaluation {evaluation}). The weights "
                "were corrupted, typically by a diverged optimisation step: restore them from "
                "a checkpoint, then lower the learning rate or clip gradients."
            )
        when = f"at t={time:.6g}" if math.isfinite(time) else "(the solver's time became NaN)"
        span = self._span
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
            f"evaluation {evaluation}). {causes}"
        )

    def forward(self, t: Tensor, x: Tensor, args: Any = None) -> Tensor:
        tally = self.tally
        # Forward inside the model's own forward solve, backward otherwise (adjoints
        # evaluate the field from the autograd engine); this runs on every evaluation.
        if tally.solving:
            tally.forward += 1
            tally.solve_forward += 1
            if tally.solve_forward > tally.limit:
                raise self._over_budget(tally.solve_forward, "forward", t, x)
        else:
            tally.backward += 1
            tally.solve_backward += 1
            if tally.solve_backward > tally.limit:
                raise self._over_budget(tally.solve_backward, "backward", t, x)
        for module in self._time_modules:
            module.t = t
        if self.args is not None:
            args = self.args
        style = self.style
        try:
            if style == _TX_ARGS_KW:
                dx = self.field(t, x, args=args)
            elif style == _TX:
                dx = self.field(t, x)
            elif style == _X:
                dx = self.field(x)
            else:
                dx = self.field(t, x, args)
        except NFEBudgetExceeded:
            raise  # a nested model's budget: not a shape problem
        except RuntimeError as error:
            if any(word in str(error) for word in ("shape", "size", "dimension")):
                declared = getattr(self.field, "dim", None) or getattr(self.field, "channels", None)
                expects = f" It expects size {declared} along dimension 1." if declared else ""
                raise StateShapeError(
                    f"The vector field {type(self.field).__name__} failed on a state of shape "
                    f"{tuple(x.shape)} (augmented dimensions included).{expects} The state "
                    f"size must equal the input size plus `augment_dims`. Cause: {error}"
                ) from error
            raise
        if not isinstance(x, Tensor):
            return dx  # a dict state: the solver reads the field's result
        if not isinstance(dx, Tensor):
            raise TypeError(
                f"The vector field {type(self.field).__name__} returned a "
                f"{type(dx).__name__}; it must return one tensor dx/dt of the state's shape "
                f"{tuple(x.shape)}. A field that returns several values (e.g. `(dx, extra)`) "
                "needs a wrapper that returns dx alone."
            )
        if dx.shape != x.shape:
            raise StateShapeError(
                f"The vector field {type(self.field).__name__} returned shape "
                f"{tuple(dx.shape)} for a state of shape {tuple(x.shape)}; dx/dt must have the "
                "state's shape (augmented dimensions included)."
            )
        self._guard_countdown -= 1
        if self._guard_countdown == 0:
            self._guard_countdown = GUARD_INTERVAL
            self._guard(t, x, dx)
        return dx

    def extra_repr(self) -> str:
        return f"call={self.style!r}"


class _StartBackwardSolve(torch.autograd.Function):
    """Identity on a solution; its backward marks the start of that solve's adjoint.

    The autograd engine runs it just before the adjoint's own backward, so the budget
    and the stall guard start afresh for each backward solve.
    """

    @staticmethod
    def forward(ctx: Any, sol: Tensor, field: CountedField) -> Tensor:
        ctx.field = field
        return sol.view_as(sol)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        ctx.field.start_backward_solve()
        return grad, None


def mark_backward_start(sol: Tensor, field: CountedField) -> Tensor:
    """``sol``, unchanged; the backward solve behind it starts ``field``'s budget afresh."""
    return _StartBackwardSolve.apply(sol, field)
