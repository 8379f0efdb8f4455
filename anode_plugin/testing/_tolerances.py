"""Solver tolerances of the reconstruction check: the ladder, the threshold, and a
``with`` block that solves at other tolerances."""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator

from .._model import AugmentedNeuralODE
from ._check_args import _check_model

__all__ = ["TOLERANCE_LADDER", "solver_tolerances"]


#: The tolerances tried by :func:`loosest_passing_tolerance`, loosest first: from the
#: paper's 1e-3 down to 1e-8 (still above float32's floor of about 1.2e-9).
TOLERANCE_LADDER: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)

#: Default largest relative error per sample, ``||x_rec - x|| / ||x||``.
_THRESHOLD = 1e-2


def _check_threshold(threshold: object, name: str = "threshold") -> float:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0 < threshold < math.inf
    ):
        raise ValueError(
            f"`{name}` must be a positive finite number (the largest relative error "
            f"||x_rec - x|| / ||x|| per sample), got {threshold!r}."
        )
    return float(threshold)


def _check_optional_tolerance(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"`{name}` must be None or a positive number, got {value!r}.")
    return float(value)


def _check_ladder(ladder: object, name: str = "ladder") -> tuple[float, ...]:
    try:
        values = tuple(ladder)  # type: ignore[arg-type]
    except TypeError:
        values = None
    if (
        not values
        or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf
            for v in values
        )
        or any(a <= b for a, b in itertools.pairwise(values))
    ):
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive tolerances, strictly "
            f"decreasing (loosest first), e.g. {TOLERANCE_LADDER}; got {ladder!r}."
        )
    return tuple(float(v) for v in values)


@contextlib.contextmanager
def solver_tolerances(
    model: AugmentedNeuralODE, *, atol: float | None = None, rtol: float | None = None
) -> Iterator[AugmentedNeuralODE]:
    """Solve with other forward tolerances inside a ``with`` block; restored on exit.

    Sets ``model.atol`` and ``model.rtol`` (``None`` keeps the model's own) and puts
    them back when the block exits, even if a solve inside raised. The adjoint's
    tolerances are left alone.

    Args:
        model: the model whose tolerances change.
        atol: absolute tolerance inside the block.
        rtol: relative tolerance inside the block.

    Example:
        >>> from anode_plugin import AugmentedNeuralODE, MLPVectorField
        >>> model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
        >>> with solver_tolerances(model, atol=1e-6, rtol=1e-6):
        ...     model.atol
        1e-06
        >>> model.atol
        0.001
    """
    model = _check_model("solver_tolerances", model)
    atol = _check_optional_tolerance("atol", atol)
    rtol = _check_optional_tolerance("rtol", rtol)
    saved = model.atol, model.rtol
    try:
        if atol is not None:
            model.atol = atol
        if rtol is not None:
            model.rtol = rtol
        yield model
    finally:
        model.atol, model.rtol = saved
