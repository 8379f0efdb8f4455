"""Adapting any vector field to the solvers' ``(t, x)`` call: one job, done once."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ._errors import NFEBudgetExceeded, StateShapeError

__all__ = ["FieldCall", "call_field", "call_style", "is_shape_error"]

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


def call_field(field: Callable[..., Any], style: str, t: Tensor, x: Any, args: Any) -> Any:
    """``field`` called in its ``style`` (from :func:`call_style`)."""
    if style == _TX_ARGS_KW:
        return field(t, x, args=args)
    if style == _TX:
        return field(t, x)
    if style == _X:
        return field(x)
    return field(t, x, args)


def is_shape_error(error: BaseException) -> bool:
    """Whether a field's ``RuntimeError`` is torch's complaint about a tensor's shape."""
    return isinstance(error, RuntimeError) and any(
        word in str(error) for word in ("shape", "size", "dimension")
    )


class FieldCall(nn.Module):
    """A user's vector field as the solvers call it, ``(t, x)``.

    It takes the place of torchdyn's ``DEFunc`` wrapper inside the model: it calls the
    field in the style its signature asks for (``f(x)``, ``f(t, x)``, ``f(t, x, args)``)
    with the ``args`` of the current solve, hands ``t`` to submodules that keep a ``t``
    attribute (torchdyn's ``DepthCat``; found once rather than per call), and turns a
    wrong shape into an error that names the augmented state. Counting, budgets and the
    stall guard belong to each solve (:mod:`anode_plugin.solve`), not to the field.

    A state that is not a tensor (torchdyn's dict states) is passed to the field, and
    the field's result back to the solver, unchecked: the solver decides what they are.

    Args:
        field: the user's vector field, written as ``f(x)``, ``f(t, x)`` or
            ``f(t, x, args)``.
        optimizable_params: parameters the field uses without owning them (a
            ``functools.partial`` of a module's method): registered here, as torchdyn
            does, so that the adjoints compute their gradients.
        out_features: the size of ``dx`` along dimension 1 when it is not the state's:
            an exactly augmented CNF's field returns the data's velocity only.

    Attributes:
        nfe: torchdyn ``DEFunc``'s count: evaluations recorded since the model's last
            ``reset_nfe`` (forward and backward), an int users may set.
    """

    def __init__(
        self,
        field: Callable[..., Tensor],
        optimizable_params: Iterable[nn.Parameter] = (),
        *,
        out_features: int | None = None,
    ) -> None:
        super().__init__()
        self.out_features = out_features
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
        self.nfe = 0
        # `args` of the current solve, set by the model: the solvers do not pass them on.
        self.args: Any = None
        self._time_modules = (
            [m for m in field.modules() if hasattr(m, "t")] if isinstance(field, nn.Module) else []
        )
        if not any(True for _ in self.parameters()):
            # Sensitivity code concatenates the field's parameters; give it one to find,
            # as torchdyn does for parameter-free fields.
            self.dummy_parameter = nn.Parameter(torch.zeros(1))

    def user_parameters(self) -> list[nn.Parameter]:
        """The parameters of the user's field and its ``optimizable_params``, without the
        placeholder of a parameter-free one."""
        return [p for name, p in self.named_parameters() if name != "dummy_parameter"]

    def match_placeholder(self, dtype: torch.dtype) -> None:
        """Give a parameter-free field's placeholder the state's dtype (the adjoints use it)."""
        placeholder = getattr(self, "dummy_parameter", None)
        if placeholder is not None and placeholder.dtype != dtype:
            placeholder.data = placeholder.data.to(dtype)

    def forward(self, t: Tensor, x: Any, args: Any = None) -> Any:
        # torchdyn's count: every call, in a solve or not. Inside a compiled step the int
        # would be a guard (a recompilation per step): the step counts its calls instead.
        if not torch.compiler.is_compiling():
            self.nfe += 1
        for module in self._time_modules:
            module.t = t
        if self.args is not None:
            args = self.args
        try:
            dx = call_field(self.field, self.style, t, x, args)
        except NFEBudgetExceeded:
            raise  # a nested model's budget: not a shape problem
        except RuntimeError as error:
            if is_shape_error(error):
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
        if self.out_features is not None:
            if dx.shape != (x.shape[0], self.out_features):
                raise StateShapeError(
                    f"The vector field {type(self.field).__name__} returned shape "
                    f"{tuple(dx.shape)} for a state of shape {tuple(x.shape)}; it must return "
                    f"[batch, {self.out_features}] (with augmentation='exact', the data's "
                    f"velocity alone: e.g. MLPVectorField({x.shape[1]}, "
                    f"out_dim={self.out_features}))."
                )
            return dx
        if dx.shape != x.shape:
            raise StateShapeError(
                f"The vector field {type(self.field).__name__} returned shape "
                f"{tuple(dx.shape)} for a state of shape {tuple(x.shape)}; dx/dt must have the "
                "state's shape (augmented dimensions included)."
            )
        return dx

    def extra_repr(self) -> str:
        return f"call={self.style!r}"
