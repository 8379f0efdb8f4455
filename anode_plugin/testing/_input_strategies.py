"""Strategies of model inputs: batches of vectors and of images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import Tensor

from .._model import AugmentedNeuralODE
from .._vector_fields import ConvVectorField, MLPVectorField
from ._strategy_args import _bounds, _dtype, _finite, _value_range

__all__ = ["images", "model_inputs", "vectors"]


def _floats(min_value: float, max_value: float, dtype: torch.dtype) -> st.SearchStrategy[float]:
    width = 64 if dtype == torch.float64 else 32
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=width)


def _tensor(values: list[float], shape: Sequence[int], dtype: torch.dtype) -> Tensor:
    return torch.tensor(values, dtype=torch.float64).reshape(*shape).to(dtype)


def vectors(
    *,
    min_batch: int = 1,
    max_batch: int = 16,
    min_dim: int = 1,
    max_dim: int = 4,
    dtype: torch.dtype = torch.float64,
    min_value: float = -2.0,
    max_value: float = 2.0,
    min_separation: float = 0.0,
) -> st.SearchStrategy[Tensor]:
    """Batches of vectors, tensors of shape ``[batch, dim]``.

    Args:
        min_batch: smallest batch size (>= 1).
        max_batch: largest batch size.
        min_dim: smallest vector size (>= 1).
        max_dim: largest vector size.
        dtype: a floating-point dtype.
        min_value: smallest entry.
        max_value: largest entry.
        min_separation: when positive, every two rows differ by at least this much in their
            first entry (the entries are then drawn on a grid of that spacing), so the batch
            holds distinct points, as property checks of flows need.
    """
    min_batch, max_batch = _bounds("batch", min_batch, max_batch, minimum=1)
    min_dim, max_dim = _bounds("dim", min_dim, max_dim, minimum=1)
    dtype = _dtype(dtype)
    low, high = _value_range(min_value, max_value)
    min_separation = _finite("min_separation", min_separation, allowed="a number >= 0")
    if min_separation < 0:
        raise InvalidArgument(f"`min_separation` must be a number >= 0, got {min_separation!r}.")
    slots = math.floor((high - low) / min_separation) + 1 if min_separation > 0 else None
    if slots is not None and slots < max_batch:
        raise InvalidArgument(
            f"Cannot fit max_batch={max_batch} points separated by {min_separation} in "
            f"[{low}, {high}]: at most {slots} fit. Lower `max_batch` or `min_separation`, or "
            "widen the value range."
        )

    @st.composite
    def draw_vectors(draw: st.DrawFn) -> Tensor:
        batch = draw(st.integers(min_batch, max_batch))
        dim = draw(st.integers(min_dim, max_dim))
        entries = _floats(low, high, dtype)
        if slots is None:
            values = draw(st.lists(entries, min_size=batch * dim, max_size=batch * dim))
            return _tensor(values, (batch, dim), dtype)
        grid = draw(
            st.lists(st.integers(0, slots - 1), min_size=batch, max_size=batch, unique=True)
        )
        rest = draw(st.lists(entries, min_size=batch * (dim - 1), max_size=batch * (dim - 1)))
        first = torch.tensor([low + k * min_separation for k in grid], dtype=torch.float64)
        out = torch.empty(batch, dim, dtype=torch.float64)
        out[:, 0] = first
        if dim > 1:
            out[:, 1:] = torch.tensor(rest, dtype=torch.float64).reshape(batch, dim - 1)
        return out.to(dtype)

    return draw_vectors()


def images(
    *,
    min_batch: int = 1,
    max_batch: int = 4,
    min_channels: int = 1,
    max_channels: int = 3,
    min_side: int = 2,
    max_side: int = 6,
    dtype: torch.dtype = torch.float64,
    min_value: float = -1.0,
    max_value: float = 1.0,
) -> st.SearchStrategy[Tensor]:
    """Batches of images, tensors of shape ``[batch, channels, height, width]``.

    Args:
        min_batch: smallest batch size (>= 1).
        max_batch: largest batch size.
        min_channels: fewest channels (>= 1).
        max_channels: most channels.
        min_side: smallest height and width (>= 1).
        max_side: largest height and width.
        dtype: a floating-point dtype.
        min_value: smallest pixel value.
        max_value: largest pixel value.
    """
    min_batch, max_batch = _bounds("batch", min_batch, max_batch, minimum=1)
    min_channels, max_channels = _bounds("channels", min_channels, max_channels, minimum=1)
    min_side, max_side = _bounds("side", min_side, max_side, minimum=1)
    dtype = _dtype(dtype)
    low, high = _value_range(min_value, max_value)

    @st.composite
    def draw_images(draw: st.DrawFn) -> Tensor:
        shape = (
            draw(st.integers(min_batch, max_batch)),
            draw(st.integers(min_channels, max_channels)),
            draw(st.integers(min_side, max_side)),
            draw(st.integers(min_side, max_side)),
        )
        size = math.prod(shape)
        values = draw(st.lists(_floats(low, high, dtype), min_size=size, max_size=size))
        return _tensor(values, shape, dtype)

    return draw_images()


def model_inputs(
    model: AugmentedNeuralODE,
    *,
    min_batch: int = 1,
    max_batch: int = 16,
    min_value: float = -2.0,
    max_value: float = 2.0,
    min_separation: float = 0.0,
    side: int = 4,
) -> st.SearchStrategy[Tensor]:
    """Input batches that fit ``model``, in its parameters' dtype.

    The input size is read from the model's vector field (``MLPVectorField.out_dim`` or
    ``ConvVectorField.out_channels``, minus ``augment_dims``: right for every
    augmentation kind); images are ``side x side``.

    Args:
        model: a model whose vector field is an ``MLPVectorField`` or ``ConvVectorField``.
        min_batch: smallest batch size.
        max_batch: largest batch size.
        min_value: smallest entry.
        max_value: largest entry.
        min_separation: for vectors, see :func:`vectors`.
        side: height and width of image inputs.
    """
    field = model.vector_field
    dtype = next(model.parameters()).dtype
    if isinstance(field, MLPVectorField):
        d = field.out_dim - model.augment_dims
        return vectors(
            min_batch=min_batch,
            max_batch=max_batch,
            min_dim=d,
            max_dim=d,
            dtype=dtype,
            min_value=min_value,
            max_value=max_value,
            min_separation=min_separation,
        )
    if isinstance(field, ConvVectorField):
        c = field.out_channels - model.augment_dims
        return images(
            min_batch=min_batch,
            max_batch=max_batch,
            min_channels=c,
            max_channels=c,
            min_side=side,
            max_side=side,
            dtype=dtype,
            min_value=min_value,
            max_value=max_value,
        )
    raise InvalidArgument(
        "`model_inputs` reads the input size from an MLPVectorField or ConvVectorField; got a "
        f"{type(field).__name__}. Use `vectors(min_dim=d, max_dim=d, ...)` or `images(...)`."
    )
