"""A ``with`` block that solves at other tolerances (the ladder and the threshold of the
reconstruction check are in :mod:`anode_plugin._reconstruction_tolerances`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .._model import AugmentedNeuralODE
from .._reconstruction_tolerances import check_optional_tolerance
from ._check_args import _check_model

__all__ = ["solver_tolerances"]


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
    atol = check_optional_tolerance("atol", atol)
    rtol = check_optional_tolerance("rtol", rtol)
    saved = model.atol, model.rtol
    try:
        if atol is not None:
            model.atol = atol
        if rtol is not None:
            model.rtol = rtol
        yield model
    finally:
        model.atol, model.rtol = saved
