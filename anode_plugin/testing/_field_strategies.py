"""Strategies of random vector fields: MLP and convolutional, randomly initialised."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from hypothesis import strategies as st
from torch import nn

from .._validation import (
    check_positive_float,
    check_positive_int,
)
from .._vector_fields import ACTIVATIONS, ConvVectorField, MLPVectorField
from ._strategy_args import _bounds, _check, _choices, _dtype, _time_dependence

__all__ = ["conv_vector_fields", "mlp_vector_fields"]


def _randomise(module: nn.Module, seed: int, weight_scale: float, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            fan_in = parameter[0].numel() if parameter.ndim > 1 else parameter.numel()
            std = weight_scale / math.sqrt(max(fan_in, 1))
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    module.to(dtype)


@st.composite
def _random_fields(
    draw: st.DrawFn,
    field_class: type[MLPVectorField] | type[ConvVectorField],
    sizes: tuple[int, int],
    widths: tuple[int, int],
    dependence: st.SearchStrategy[bool],
    names: Sequence[str],
    scale: float,
    dtype: torch.dtype,
    out: dict[str, int] | None = None,
) -> MLPVectorField | ConvVectorField:
    """One field of ``field_class`` (size, width drawn in bounds) with random weights."""
    field = field_class(
        draw(st.integers(*sizes)),
        draw(st.integers(*widths)),
        time_dependent=draw(dependence),
        activation=draw(st.sampled_from(names)),
        **(out or {}),
    )
    _randomise(field, draw(st.integers(0, 2**32 - 1)), scale, dtype)
    return field


def mlp_vector_fields(
    *,
    min_dim: int = 1,
    max_dim: int = 4,
    min_hidden: int = 2,
    max_hidden: int = 16,
    time_dependent: bool | None = None,
    activations: Sequence[str] | None = None,
    weight_scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
    out_dim: int | None = None,
) -> st.SearchStrategy[MLPVectorField]:
    """Random :class:`~anode_plugin.MLPVectorField` s with random weights.

    Weights are drawn as ``N(0, weight_scale^2 / fan_in)`` from a seed hypothesis draws, so
    failures shrink and replay.

    Args:
        min_dim: smallest state size (>= 1), augmented dimensions included.
        max_dim: largest state size.
        min_hidden: narrowest hidden layers (>= 1).
        max_hidden: widest hidden layers.
        time_dependent: ``True`` or ``False`` to fix it; ``None`` draws both.
        activations: names from ``ACTIVATIONS`` to draw from; ``None`` for all.
        weight_scale: scale of the random weights (> 0).
        dtype: a floating-point dtype.
        out_dim: output size; ``None`` for the state size (a second-order model's
            field returns the acceleration, half its state).
    """
    min_dim, max_dim = _bounds("dim", min_dim, max_dim, minimum=1)
    min_hidden, max_hidden = _bounds("hidden", min_hidden, max_hidden, minimum=1)
    names = _choices("activations", activations, tuple(ACTIVATIONS))
    dependence = _time_dependence(time_dependent)
    scale = _check(check_positive_float, "weight_scale", weight_scale)
    dtype = _dtype(dtype)

    out = None if out_dim is None else {"out_dim": _check(check_positive_int, "out_dim", out_dim)}
    sizes, widths = (min_dim, max_dim), (min_hidden, max_hidden)
    return _random_fields(MLPVectorField, sizes, widths, dependence, names, scale, dtype, out)


def conv_vector_fields(
    *,
    min_channels: int = 1,
    max_channels: int = 4,
    min_filters: int = 1,
    max_filters: int = 8,
    time_dependent: bool | None = None,
    activations: Sequence[str] | None = None,
    weight_scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> st.SearchStrategy[ConvVectorField]:
    """Random :class:`~anode_plugin.ConvVectorField` s with random weights.

    Args:
        min_channels: fewest state channels (>= 1), augmented channels included.
        max_channels: most state channels.
        min_filters: fewest hidden filters (>= 1).
        max_filters: most hidden filters.
        time_dependent: ``True`` or ``False`` to fix it; ``None`` draws both.
        activations: names from ``ACTIVATIONS`` to draw from; ``None`` for all.
        weight_scale: scale of the random weights (> 0).
        dtype: a floating-point dtype.
    """
    min_channels, max_channels = _bounds("channels", min_channels, max_channels, minimum=1)
    min_filters, max_filters = _bounds("filters", min_filters, max_filters, minimum=1)
    names = _choices("activations", activations, tuple(ACTIVATIONS))
    dependence = _time_dependence(time_dependent)
    scale = _check(check_positive_float, "weight_scale", weight_scale)
    dtype = _dtype(dtype)

    sizes, widths = (min_channels, max_channels), (min_filters, max_filters)
    return _random_fields(ConvVectorField, sizes, widths, dependence, names, scale, dtype)
