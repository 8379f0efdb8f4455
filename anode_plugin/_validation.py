"""Argument checks shared by the public constructors.

Every message names the argument, the value received and what is allowed.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
import sys
from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "check_bool",
    "check_choice",
    "check_floating_tensor",
    "check_non_negative_int",
    "check_positive_float",
    "check_positive_int",
    "check_save_at",
    "check_t_span",
]


def check_choice(name: str, value: object, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; else raise ``ValueError``."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")
    return value


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False`` (a string such as ``"no"`` is refused: it
    would read as true)."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")
    return value


def check_non_negative_int(name: str, value: object) -> int:
    """Return ``value`` if it is an integer >= 0 (bools refused); else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")
    if value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")
    return int(value)


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an integer >= 1 (bools refused); else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def check_non_negative_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number >= 0; else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a non-negative float, got {value!r}.")
    value = float(value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"`{name}` must be a non-negative float, got {value!r}.")
    return value


def check_positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number > 0; else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a positive finite number, got {value!r}.")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"`{name}` must be a positive finite number, got {value!r}.")
    return value


def check_floating_tensor(name: str, value: object, *, min_ndim: int = 1) -> torch.Tensor:
    """Return ``value`` if it is a real floating-point tensor with ``min_ndim`` dims or more."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point():
        raise TypeError(
            f"`{name}` must have a real floating-point dtype (the solvers take float32 or "
            f"float64), got {value.dtype}. Convert it first, e.g. `{name}.float()`."
        )
    if value.ndim < min_ndim:
        # torchdyn takes a 1-D state, but here the first dimension is always the batch:
        # augment_idx=1, per-sample statistics and the error norm's rows all rely on it.
        hint = (
            f" For one sample, pass `{name}[None]` (shape {(1, *value.shape)}); the first "
            "dimension is always the batch."
            if value.ndim == min_ndim - 1
            else ""
        )
        raise ValueError(
            f"`{name}` must have at least {min_ndim} dimensions ([batch, ...]), "
            f"got shape {tuple(value.shape)}.{hint}"
        )
    return value


def check_t_span(
    value: torch.Tensor | Sequence[float],
    *,
    dtype: torch.dtype | None = None,
    name: str = "t_span",
) -> torch.Tensor:
    """Return ``value`` as a 1-D time tensor that is finite and strictly monotonic.

    A degenerate or non-monotonic ``t_span`` would make adaptive solvers loop forever
    or integrate the wrong way, so it is refused here.
    """
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(
                f"`{name}` must be a 1-D sequence of at least two times, got {value!r}."
            ) from error
    if t.ndim != 1 or t.numel() < 2:
        raise ValueError(
            f"`{name}` must be 1-D with at least two times, got shape {tuple(t.shape)}: {value!r}."
        )
    if t.is_complex():
        raise ValueError(f"`{name}` must hold real times, got dtype {t.dtype}.")
    # One read of the times to the host (a solve checks them on every call): the checks
    # in Python floats, which keep the tensor's order and equalities.
    times = t.detach().tolist()
    if not all(math.isfinite(s) for s in times):
        raise ValueError(f"`{name}` must hold finite times, got {times}.")
    steps = [b - a for a, b in itertools.pairwise(times)]
    if not (all(s > 0 for s in steps) or all(s < 0 for s in steps)):
        raise ValueError(
            f"`{name}` must be strictly increasing or strictly decreasing, got {times}."
        )
    # `.to` keeps the autograd graph, so gradients with respect to times still flow.
    if dtype is not None:
        return t.to(dtype)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def state_leaf(state: object) -> torch.Tensor:
    """A tensor of a state: itself, or the first value of a torchdyn dict state."""
    return next(iter(state.values())) if isinstance(state, dict) else state  # type: ignore[return-value]


def check_state(
    name: str, x: object, *, device: torch.device, parameters: Sequence[torch.Tensor]
) -> torch.Tensor:
    """``x`` as a batch of finite states a solve can take: float32 or float64, at least
    ``[batch, d]``, on ``device`` and of the parameters' dtype."""
    x = check_floating_tensor(name, x, min_ndim=2)
    if x.dtype in (torch.float16, torch.bfloat16):
        raise TypeError(
            f"`{name}` has dtype {x.dtype}; the solvers need float32 or float64: adaptive "
            "step-size control cannot work with half precision's 3 significant digits. "
            f"Use `{name}.float()` and `model.float()`; to run the vector field's layers in "
            "half precision on a GPU, call the solve inside `torch.autocast('cuda')`."
        )
    if x.device != device:
        raise ValueError(
            f"`{name}` is on {x.device} but the model is on {device}; move one "
            f"of them, e.g. `model.to({str(x.device)!r})`."
        )
    if parameters and x.dtype != parameters[0].dtype:
        model_dtype = parameters[0].dtype
        raise TypeError(
            f"`{name}` has dtype {x.dtype} but the model's parameters are {model_dtype}; "
            f"convert one of them, e.g. `{name}.to({model_dtype})` or `model.to({x.dtype})`."
        )
    # An adaptive solver fed NaN or inf never accepts a step and loops forever.
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"`{name}` contains NaN or infinite values; the solve would never finish.")
    return x


def check_tolerances_resolvable(
    pairs: Sequence[tuple[str, float, str, float]], dtype: torch.dtype
) -> None:
    """Refuse ``(atol, rtol)`` pairs both more than 1000 times finer than ``dtype``'s epsilon.

    Such a solve chases rounding noise with ever smaller steps, for minutes.
    """
    floor = torch.finfo(dtype).eps / 1000
    for atol_name, atol, rtol_name, rtol in pairs:
        if atol < floor and rtol < floor:
            raise ValueError(
                f"`{atol_name}`={atol:g} and `{rtol_name}`={rtol:g} ask for more accuracy "
                f"than {dtype} can resolve (machine epsilon {torch.finfo(dtype).eps:.3g}; "
                f"at least one must be >= {floor:.3g}): the solver would chase rounding "
                "noise with ever smaller steps. Loosen them, or solve in float64."
            )


def check_save_at(save_at: object, t_span: torch.Tensor) -> torch.Tensor | None:
    """The rows of a solution at ``t_span`` that torchdyn's ``save_at`` keeps, or ``None``
    (empty ``save_at``: every row).

    Each time of ``save_at`` must be one of ``t_span``'s (``torch.isclose``), once.
    """
    try:
        times = torch.as_tensor(save_at, dtype=t_span.dtype, device=t_span.device).detach()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"`save_at` must be a 1-D sequence of times, got {save_at!r}.") from error
    if times.ndim != 1:
        raise ValueError(f"`save_at` must be 1-D, got shape {tuple(times.shape)}: {save_at!r}.")
    if times.numel() == 0:
        return None
    matches = torch.isclose(times.reshape(-1, 1), t_span.detach().reshape(1, -1))
    rows = matches.int().argmax(dim=1)
    if not bool((matches.sum(dim=1) == 1).all()) or len(set(rows.tolist())) != len(times):
        raise ValueError(
            f"Each time of `save_at` must be one of `t_span`'s, once: got save_at="
            f"{times.tolist()} for t_span={t_span.detach().tolist()}. The solution is "
            "returned at the times of `t_span`; `save_at` keeps some of them."
        )
    return rows


def caller_stacklevel() -> int:
    """The ``stacklevel`` of ``warnings.warn`` that names the first frame outside the
    package: the user's line, however many of the package's frames lie between."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
