"""Argument checks of the strategies: hypothesis's ``InvalidArgument``, the package's messages."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .._validation import (
    check_choice,
    check_non_negative_int,
    check_positive_int,
)

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

_Checked = TypeVar("_Checked")


def _check(check: Callable[..., _Checked], *args: Any) -> _Checked:
    """Run one of the package's argument checks, raising hypothesis's ``InvalidArgument``.

    Strategies share the constructors' checks (``_validation``) and messages, but report a
    bad argument as hypothesis's own strategies do.
    """
    try:
        return check(*args)
    except (ValueError, TypeError) as error:
        raise InvalidArgument(str(error)) from None


def _bounds(name: str, low: int, high: int, *, minimum: int) -> tuple[int, int]:
    check = {0: check_non_negative_int, 1: check_positive_int}[minimum]
    low, high = _check(check, f"min_{name}", low), _check(check, f"max_{name}", high)
    if low > high:
        raise InvalidArgument(f"`min_{name}`={low} must not exceed `max_{name}`={high}.")
    return low, high


def _finite(name: str, value: object, *, allowed: str = "a finite number") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"`{name}` must be {allowed}, got {value!r}.")
    if not math.isfinite(value):
        raise InvalidArgument(f"`{name}` must be {allowed}, got {value!r}.")
    return float(value)


def _value_range(min_value: float, max_value: float) -> tuple[float, float]:
    low, high = _finite("min_value", min_value), _finite("max_value", max_value)
    if low > high:
        raise InvalidArgument(f"`min_value`={min_value} must not exceed `max_value`={max_value}.")
    return low, high


def _dtype(dtype: object) -> torch.dtype:
    if dtype not in _FLOAT_DTYPES:
        raise InvalidArgument(
            f"`dtype` must be one of {[str(d) for d in _FLOAT_DTYPES]}, got {dtype!r}."
        )
    return dtype  # type: ignore[return-value]


def _choices(name: str, values: Sequence[Any] | None, allowed: Sequence[Any]) -> tuple:
    if values is None:
        return tuple(allowed)
    values = tuple(values)
    if not values:
        raise InvalidArgument(f"`{name}` must name at least one of {list(allowed)}, got none.")
    return tuple(_check(check_choice, name, value, allowed) for value in values)


def _time_dependence(time_dependent: bool | None) -> st.SearchStrategy[bool]:
    if time_dependent is None:
        return st.booleans()
    if not isinstance(time_dependent, bool):
        raise InvalidArgument(
            f"`time_dependent` must be True, False or None, got {time_dependent!r}."
        )
    return st.just(time_dependent)
