"""Hypothesis strategies: input batches, random vector fields and whole model configurations.

Strategies are nouns with keyword-only ``min_``/``max_`` bounds, as in
``hypothesis.extra.numpy``, and check their own arguments when they are built, raising
``hypothesis.errors.InvalidArgument`` as hypothesis's own strategies do.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from torch import Tensor, nn

from .._augmentations import AUGMENTATIONS
from .._model import BACKENDS, SENSITIVITIES, SOLVERS, AugmentedNeuralODE
from .._validation import (
    check_choice,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
)
from .._vector_fields import ACTIVATIONS, ConvVectorField, MLPVectorField

__all__ = [
    "augmented_neural_odes",
    "conv_vector_fields",
    "images",
    "mlp_vector_fields",
    "model_inputs",
    "vectors",
]

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Default solvers: adaptive ones whose tolerances bound the error at the saved times.
# Measured: torchdiffeq's bosh3 and dopri8 at tolerances of 1e-10 still end ~1e-7 off
# (dopri5: ~1e-10), likely from interpolating the final time; pass them explicitly.
_ACCURATE_AT_SAVED_TIMES = ("dopri5", "tsit5")


# ---------------------------------------------------------------------------- validation
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


# ---------------------------------------------------------------------------- inputs
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


# ---------------------------------------------------------------------------- vector fields
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


# ---------------------------------------------------------------------------- models
def augmented_neural_odes(
    *,
    min_input_dim: int = 1,
    max_input_dim: int = 3,
    min_augment_dims: int = 0,
    max_augment_dims: int = 3,
    backends: Sequence[str] | None = None,
    solvers: Sequence[str] | None = None,
    sensitivities: Sequence[str] | None = None,
    vector_fields: Callable[[int], st.SearchStrategy[Any]] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-6,
    dtype: torch.dtype = torch.float64,
    augmentations: Sequence[str] = ("zeros",),
) -> st.SearchStrategy[AugmentedNeuralODE]:
    """Whole :class:`~anode_plugin.AugmentedNeuralODE` configurations on vector inputs.

    Draws the input size ``d``, the augmentation kind and ``p``, a backend, a solver and
    a sensitivity valid for it, and a vector field of size ``d + p`` (``2 * (d + p)`` in,
    ``d + p`` out for ``'second_order'``). Learned augmentations (an input layer, a
    second-order model's initial velocity, drawn as zeros or learned) get random weights
    from a drawn seed. Draw matching inputs with :func:`model_inputs`.

    Args:
        min_input_dim: smallest input size ``d`` (>= 1).
        max_input_dim: largest input size.
        min_augment_dims: smallest augmentation ``p`` (>= 0).
        max_augment_dims: largest augmentation.
        backends: backends to draw from; ``None`` for all of ``BACKENDS``.
        solvers: solver names to draw from, each kept only for the backends that know it;
            ``None`` for those of ``dopri5`` and ``tsit5`` each backend has,
            whose tolerances hold at the saved times.
        sensitivities: sensitivities to draw from, kept per backend; ``None`` for all.
        vector_fields: ``size -> strategy`` of fields of that state size; ``None`` for
            :func:`mlp_vector_fields` with smooth activations (tanh, softplus).
        atol: the models' absolute tolerance.
        rtol: the models' relative tolerance.
        dtype: the models' dtype.
        augmentations: kinds from ``AUGMENTATIONS`` to draw from, e.g. all of them. With
            ``'second_order'``, ``vector_fields`` is called with the state size
            ``2 * (d + p)`` and its fields must return half that size.
    """
    min_input_dim, max_input_dim = _bounds("input_dim", min_input_dim, max_input_dim, minimum=1)
    min_augment_dims, max_augment_dims = _bounds(
        "augment_dims", min_augment_dims, max_augment_dims, minimum=0
    )
    kinds = _choices("augmentations", augmentations, AUGMENTATIONS)
    if kinds == ("input_layer",) and max_augment_dims == 0:
        raise InvalidArgument(
            "augmentations=('input_layer',) needs max_augment_dims >= 1: an input layer "
            "learns at least one augmented entry."
        )
    chosen_backends = _choices("backends", backends, BACKENDS)
    all_solvers = sorted({s for b in chosen_backends for s in SOLVERS[b]})
    all_sensitivities = sorted({s for b in chosen_backends for s in SENSITIVITIES[b]})
    wanted_solvers = _choices("solvers", solvers, all_solvers) if solvers is not None else None
    wanted_sens = _choices("sensitivities", sensitivities, all_sensitivities)
    options: list[tuple[str, str, str]] = []
    for backend in chosen_backends:
        names = _ACCURATE_AT_SAVED_TIMES if wanted_solvers is None else wanted_solvers
        for solver in (s for s in names if s in SOLVERS[backend]):
            for sensitivity in (s for s in wanted_sens if s in SENSITIVITIES[backend]):
                options.append((backend, solver, sensitivity))
    if not options:
        raise InvalidArgument(
            f"No valid (backend, solver, sensitivity) among backends={list(chosen_backends)}, "
            f"solvers={solvers!r}, sensitivities={sensitivities!r}; see SOLVERS and "
            "SENSITIVITIES for what each backend accepts."
        )
    atol = _check(check_positive_float, "atol", atol)
    rtol = _check(check_positive_float, "rtol", rtol)
    dtype = _dtype(dtype)
    default_fields = vector_fields is None
    if vector_fields is None:

        def vector_fields(size: int, out_dim: int | None = None) -> st.SearchStrategy[Any]:
            return mlp_vector_fields(
                min_dim=size,
                max_dim=size,
                max_hidden=8,
                activations=("tanh", "softplus"),
                dtype=dtype,
                out_dim=out_dim,
            )

    elif not callable(vector_fields):
        raise InvalidArgument(
            "`vector_fields` must be a function from a state size to a strategy of fields, "
            f"got {vector_fields!r}."
        )

    @st.composite
    def draw_model(draw: st.DrawFn) -> AugmentedNeuralODE:
        d = draw(st.integers(min_input_dim, max_input_dim))
        kind = draw(st.sampled_from([k for k in kinds if k != "input_layer" or max_augment_dims]))
        low = max(min_augment_dims, 1) if kind == "input_layer" else min_augment_dims
        p = draw(st.integers(low, max_augment_dims))
        backend, solver, sensitivity = draw(st.sampled_from(options))
        velocity = "zeros"
        if kind == "second_order":
            velocity = draw(st.sampled_from(("zeros", "learned")))
            size = 2 * (d + p)
            field = draw(vector_fields(size, d + p) if default_fields else vector_fields(size))
        else:
            field = draw(vector_fields(d + p))
        model = AugmentedNeuralODE(
            field,
            augment_dims=p,
            augmentation=kind,
            initial_velocity=velocity,
            backend=backend,
            solver=solver,
            sensitivity=sensitivity,
            atol=atol,
            rtol=rtol,
            atol_adjoint=atol,
            rtol_adjoint=rtol,
        )
        if kind != "zeros":
            model.augmenter(torch.zeros(1, d))  # build the lazy layers, then draw them
            _randomise(model.augmenter, draw(st.integers(0, 2**32 - 1)), 1.0, dtype)
        return model.to(dtype)

    return draw_model()
