"""The augmentation kinds of ``AugmentedNeuralODE``: zeros, a learned input layer, second order.

Each kind is an :class:`~anode_plugin.Augmenter` (so ``strip`` gives ``x`` back and the
Lightning readout finds it) and, for second order, a wrapper that turns the user's
acceleration field into the first-order system the solvers integrate:

- ``'zeros'``: ``z0 = [x, 0]`` (Dupont et al., 2019), :class:`~anode_plugin.Augmenter`;
- ``'input_layer'``: ``z0 = [x, phi(x)]`` with ``phi`` learned (IL-NODE, Massaroli et
  al., 2020), :class:`InputLayerAugmenter`;
- ``'second_order'``: ``z0 = [q0, v0]`` with ``q0 = [x, 0]`` and ``x'' = f(t, [q, v])``
  (SONODE, Norcliffe et al., 2020), :class:`SecondOrderAugmenter` and
  :class:`SecondOrderField`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from ._augment import Augmenter
from ._errors import StateShapeError
from ._field_call import call_field, call_style, is_shape_error
from ._validation import (
    caller_stacklevel,
    check_choice,
    check_non_negative_int,
    check_positive_int,
)

__all__ = [
    "AUGMENTATIONS",
    "INITIAL_VELOCITIES",
    "PLACEMENTS",
    "InputLayer",
    "InputLayerAugmenter",
    "SecondOrderAugmenter",
    "SecondOrderField",
    "build_augmentation",
    "resolve_placement",
    "users_field",
]

#: The names ``AugmentedNeuralODE(augmentation=...)`` accepts (a module is accepted too).
AUGMENTATIONS = ("zeros", "input_layer", "second_order")
#: Where the augmented entries go: after ``x`` (the paper) or before it.
PLACEMENTS = ("last", "first")
#: A second-order model's initial velocity: zeros, or learned from ``x`` (a module too).
INITIAL_VELOCITIES = ("zeros", "learned")


class InputLayer(LazyModuleMixin, nn.Module):
    """A learned linear map along one dimension: ``nn.Linear`` for vectors, a 1x1
    convolution for images (the same map, applied to each pixel's channels).

    Built lazily: the input size is read from the first input unless ``in_features``
    is given. Initialised as ``nn.Linear`` and ``nn.Conv2d`` are (the two agree for a
    1x1 kernel).

    Args:
        out_features: output size along ``augment_idx`` (the paper's ``p``).
        in_features: input size along ``augment_idx``; ``None`` to infer it.
        augment_idx: the dimension mapped: 1 for ``[batch, d]`` and for the channels of
            ``[batch, c, h, w]``.
        add_in_features: whether the output size is ``out_features + in_features``
            (a second-order model's learned initial velocity, of the position's size).

    Shape:
        - Input: ``[batch, d, ...]``.
        - Output: ``[batch, out_features, ...]`` (``out_features + d`` with
          ``add_in_features``).

    Example:
        >>> layer = InputLayer(3)
        >>> layer(torch.randn(4, 2)).shape
        torch.Size([4, 3])
        >>> layer.weight.shape
        torch.Size([3, 2])
    """

    cls_to_become = None

    def __init__(
        self,
        out_features: int,
        in_features: int | None = None,
        *,
        augment_idx: int = 1,
        add_in_features: bool = False,
    ) -> None:
        with warnings.catch_warnings():  # torch's "lazy modules are a new feature" notice
            warnings.simplefilter("ignore", UserWarning)
            super().__init__()
        self.out_features = check_non_negative_int("out_features", out_features)
        self.augment_idx = augment_idx
        self.add_in_features = bool(add_in_features)
        self.in_features: int | None = None
        self.weight = UninitializedParameter()
        self.bias = UninitializedParameter()
        if in_features is not None:
            self._build(check_positive_int("in_features", in_features))

    def _build(self, in_features: int) -> None:
        self.in_features = in_features
        out = self.out_features + (in_features if self.add_in_features else 0)
        with torch.no_grad():
            self.weight.materialize((out, in_features))
            self.bias.materialize((out,))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weights as ``nn.Linear`` does (a no-op before the first input)."""
        if self.has_uninitialized_params() or self.in_features is None:
            return
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def initialize_parameters(self, x: Tensor) -> None:
        """Build the weights from the size of the first input (lazy modules' hook)."""
        if self.has_uninitialized_params():
            self._build(x.shape[self.augment_idx % x.ndim])

    def forward(self, x: Tensor) -> Tensor:
        dim = self.augment_idx % x.ndim
        expected = self.weight.shape[1]  # also when built by loading a state dict
        if x.shape[dim] != expected:
            raise StateShapeError(
                f"InputLayer(in_features={expected}) maps inputs with "
                f"{expected} entries along dimension {dim}, got shape "
                f"{tuple(x.shape)}; build it with in_features={x.shape[dim]}, or leave "
                "in_features=None to read it from the first input."
            )
        return F.linear(x.movedim(dim, -1), self.weight, self.bias).movedim(-1, dim)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"augment_idx={self.augment_idx}, add_in_features={self.add_in_features}"
        )


class InputLayerAugmenter(Augmenter):
    """``[x, phi(x)]``: the ``augment_dims`` augmented entries are learned from ``x``.

    Args:
        augment_idx: dimension along which to augment (1 for vectors and channels).
        augment_dims: size ``p`` of ``phi(x)`` along ``augment_idx``.
        layer: the module ``phi``; ``None`` for a lazy :class:`InputLayer` (a linear map
            for vectors, a 1x1 convolution for images). Its output must have
            ``augment_dims`` entries along ``augment_idx``.
        placement: ``'last'`` gives ``[x, phi(x)]``, ``'first'`` gives ``[phi(x), x]``.

    Shape:
        - Input: ``[batch, d, ...]``; output: ``[batch, d + augment_dims, ...]``.

    Example:
        >>> aug = InputLayerAugmenter(1, 3)
        >>> z = aug(torch.ones(4, 2))
        >>> z.shape, torch.equal(aug.strip(z), torch.ones(4, 2))
        (torch.Size([4, 5]), True)
    """

    def __init__(
        self,
        augment_idx: int = 1,
        augment_dims: int = 1,
        layer: nn.Module | None = None,
        placement: str = "last",
    ) -> None:
        if layer is None:
            layer = InputLayer(
                check_positive_int("augment_dims", augment_dims), augment_idx=augment_idx
            )
        if not isinstance(layer, nn.Module):
            raise TypeError(f"`layer` must be an nn.Module or None, got {type(layer).__name__}.")
        super().__init__(augment_idx, augment_dims, layer, order=placement)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` and the learned entries, concatenated along ``augment_idx``."""
        z = super().forward(x)
        if self._last_func_dims != self.augment_dims:
            raise StateShapeError(
                f"The input layer {type(self.augment_func).__name__} returned "
                f"{self._last_func_dims} entries along dimension {self._dim(x)} for an input "
                f"of shape {tuple(x.shape)}; it must return `augment_dims`={self.augment_dims}."
            )
        return z

    def strip(self, z: Tensor, *, original_size: int | None = None) -> Tensor:
        """The original part ``x`` of ``[x, phi(x)]``: ``[batch, d, ...]``."""
        if original_size is None:
            original_size = max(z.shape[self._dim(z)] - self.augment_dims, 0)
        return super().strip(z, original_size=original_size)

    def augmented_size(self, size: int) -> int:
        """The size along ``augment_idx`` of an input of size ``size``, augmented."""
        return size + self.augment_dims


class SecondOrderAugmenter(Augmenter):
    """``[q0, v0]``: the position ``q0 = [x, 0]`` and its initial velocity ``v0``.

    The position is ``x`` with ``augment_dims`` zeros (where ``placement`` says), as the
    zeros kind builds it; the velocity has the position's size, ``d + augment_dims``.
    With ``augment_dims=0`` this is SONODE's plain second-order model (state ``2 d``).

    Args:
        augment_idx: dimension along which to augment (1 for vectors and channels).
        augment_dims: zeros added to the position, the paper's ``p``.
        placement: ``'last'`` gives ``q0 = [x, 0]``, ``'first'`` gives ``[0, x]``.
        initial_velocity: ``'zeros'`` for ``v0 = 0``, ``'learned'`` for a lazy linear map
            (1x1 convolution for images) from ``x`` to ``v0``, or such a module.

    Shape:
        - Input: ``[batch, d, ...]``; output: ``[batch, 2 * (d + augment_dims), ...]``.

    Example:
        >>> aug = SecondOrderAugmenter(1, 1)
        >>> aug(torch.ones(2, 2))
        tensor([[1., 1., 0., 0., 0., 0.],
                [1., 1., 0., 0., 0., 0.]])
        >>> aug.strip(aug(torch.ones(2, 2))).shape
        torch.Size([2, 2])
    """

    def __init__(
        self,
        augment_idx: int = 1,
        augment_dims: int = 0,
        placement: str = "last",
        initial_velocity: str | nn.Module = "zeros",
    ) -> None:
        super().__init__(augment_idx, augment_dims, None, order=placement)
        if isinstance(initial_velocity, nn.Module):
            self.velocity: nn.Module | None = initial_velocity
        else:
            kind = check_choice("initial_velocity", initial_velocity, INITIAL_VELOCITIES)
            self.velocity = (
                None
                if kind == "zeros"
                else InputLayer(self.augment_dims, augment_idx=augment_idx, add_in_features=True)
            )

    def forward(self, x: Tensor) -> Tensor:
        """``[q0, v0]`` along ``augment_idx``."""
        q = super().forward(x)
        dim = self._dim(x)
        if self.velocity is None:
            return torch.cat([q, torch.zeros_like(q)], dim)
        v = self.velocity(x).to(q)
        if v.shape != q.shape:
            raise StateShapeError(
                f"`initial_velocity` {type(self.velocity).__name__} returned shape "
                f"{tuple(v.shape)} for an input of shape {tuple(x.shape)}; the velocity has "
                f"the position's shape {tuple(q.shape)} (input plus `augment_dims`)."
            )
        return torch.cat([q, v], dim)

    def strip(self, z: Tensor, *, original_size: int | None = None) -> Tensor:
        """The original part ``x`` of ``[q, v]``: ``[batch, d, ...]``."""
        dim = self._dim(z)
        if z.shape[dim] % 2:
            raise ValueError(
                f"A second-order state [q, v] has an even size along dimension {dim}, got "
                f"shape {tuple(z.shape)}."
            )
        position = z.narrow(dim, 0, z.shape[dim] // 2)
        return super().strip(position, original_size=original_size)

    def augmented_size(self, size: int) -> int:
        """The size along ``augment_idx`` of an input of size ``size``, augmented."""
        return 2 * (size + self.augment_dims)

    def extra_repr(self) -> str:
        velocity = "zeros" if self.velocity is None else "learned"
        return f"{super().extra_repr()}, initial_velocity={velocity!r}"


class SecondOrderField(nn.Module):
    """The first-order system of an ODE of order ``k``: ``d[x_0, ..., x_{k-1}]/dt =
    [x_1, ..., x_{k-1}, f(t, [x_0, ..., x_{k-1}])]``.

    The user's field ``f`` sees the whole state (torchdyn's ``order`` convention) and
    returns the highest derivative, of the size of one block. With ``order=2`` this is
    ``d[q, v]/dt = [v, f(t, [q, v])]``. One evaluation of this system is one
    evaluation of ``f``.

    Args:
        acceleration: ``f``, written as ``f(x)``, ``f(t, x)`` or ``f(t, x, args)``.
        augment_idx: the dimension holding the ``order`` blocks.
        order: the ODE's order ``k`` (2 or more).
        source: what asked for this system, as error messages name it.

    Shape:
        - ``z``: ``[batch, k * n, ...]``; ``f`` returns ``[batch, n, ...]``; output:
          ``[batch, k * n, ...]``.
    """

    def __init__(
        self,
        acceleration: Callable[..., Tensor],
        augment_idx: int = 1,
        order: int = 2,
        source: str = "augmentation='second_order'",
    ) -> None:
        super().__init__()
        if not callable(acceleration):
            raise TypeError(
                f"`vector_field` must be a module or callable, got {type(acceleration).__name__}."
            )
        self.acceleration = acceleration
        self.style = call_style(acceleration)
        self.augment_idx = augment_idx
        self.order = order
        self.source = source

    def forward(self, t: Tensor, z: Tensor, args: Any = None) -> Tensor:
        dim = self.augment_idx % z.ndim
        block = z.shape[dim] // self.order
        lower = z.narrow(dim, block, z.shape[dim] - block)  # the derivatives x_1 ... x_{k-1}
        try:
            a = call_field(self.acceleration, self.style, t, z, args)
        except (StateShapeError, RuntimeError) as error:
            if not isinstance(error, StateShapeError) and not is_shape_error(error):
                raise
            raise StateShapeError(self._shape_message(z, f"failed: {error}")) from error
        expected = (*z.shape[:dim], block, *z.shape[dim + 1 :])
        if not isinstance(a, Tensor) or a.shape != expected:
            got = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
            raise StateShapeError(self._shape_message(z, f"returned {got}"))
        return torch.cat([lower, a], dim)

    def _shape_message(self, z: Tensor, what: str) -> str:
        dim = self.augment_idx % z.ndim
        n, k = z.shape[dim] // self.order, self.order
        if k == 2:
            return (
                f"With {self.source} the vector field sees [x, v] of "
                f"shape {tuple(z.shape)} ({2 * n} = 2 * (d + augment_dims) along dimension "
                f"{dim}) and returns the acceleration, {n} along that dimension, e.g. "
                f"MLPVectorField({2 * n}, out_dim={n}); {type(self.acceleration).__name__} {what}"
            )
        return (
            f"With order={k} the vector field sees all {k} blocks of the state, shape "
            f"{tuple(z.shape)} ({k} * {n} along dimension {dim}), and returns the highest "
            f"derivative, {n} along that dimension; {type(self.acceleration).__name__} {what}"
        )

    def extra_repr(self) -> str:
        return f"order={self.order}"


def users_field(field: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The user's field inside the field a model integrates (the acceleration of a
    :class:`SecondOrderField`, else ``field`` itself)."""
    return field.acceleration if isinstance(field, SecondOrderField) else field


def resolve_placement(placement: str | None, order: str | None) -> str:
    """``placement``, or ``order`` when it is given as the deprecated placement name
    (``'first'`` or ``'last'``; with a ``DeprecationWarning``)."""
    if order is None:
        return check_choice("placement", "last" if placement is None else placement, PLACEMENTS)
    if placement is not None:
        raise ValueError(
            f"Pass `placement` only: `order` is its deprecated name; got placement={placement!r} "
            f"and order={order!r}."
        )
    warnings.warn(
        "`order` is deprecated; use `placement` (same values, 'last' or 'first'). `order` is "
        "now torchdyn's: the ODE's order, an integer (see also augmentation='second_order').",
        DeprecationWarning,
        stacklevel=caller_stacklevel(),  # the user's line, past the model's frames
    )
    return check_choice("order", order, PLACEMENTS)


def build_augmentation(
    augmentation: str | nn.Module,
    vector_field: Callable[..., Tensor],
    augment_idx: int,
    augment_dims: int,
    placement: str | None,
    order: str | None,
    initial_velocity: str | nn.Module,
    ode_order: int,
) -> tuple[str, Augmenter, Callable[..., Tensor]]:
    """The kind's name, its augmenter and the field the solver integrates.

    ``AugmentedNeuralODE``'s arguments of the same names; ``order`` is ``placement``'s
    deprecated name and ``ode_order`` the ODE's order (torchdyn's ``order``, which the
    model has checked).
    """
    augment_dims = check_non_negative_int("augment_dims", augment_dims)
    placement = resolve_placement(placement, order)
    if isinstance(augmentation, nn.Module):
        kind = "input_layer"
    elif isinstance(augmentation, str) and augmentation in AUGMENTATIONS:
        kind = augmentation
    else:
        raise ValueError(
            f"`augmentation` must be one of {list(AUGMENTATIONS)} or an nn.Module mapping x "
            f"to the `augment_dims` augmented entries, got {augmentation!r}."
        )
    if kind != "second_order" and not (
        isinstance(initial_velocity, str) and initial_velocity == "zeros"
    ):
        raise ValueError(
            f"`initial_velocity` applies to augmentation='second_order' only; got "
            f"initial_velocity={initial_velocity!r} with augmentation={kind!r}."
        )
    if ode_order > 1:
        if kind != "zeros" or augment_dims:
            raise ValueError(
                f"order={ode_order} (torchdyn's higher-order system) takes the state as given, "
                f"blocks [x, x', ...], with augment_dims=0 and augmentation='zeros'; got "
                f"augment_dims={augment_dims}, augmentation={kind!r}. To augment a "
                "second-order model use augmentation='second_order' with order=1."
            )
        field = SecondOrderField(vector_field, augment_idx, ode_order, f"order={ode_order}")
        return kind, Augmenter(augment_idx, 0), field  # nothing added: no placement
    if kind == "zeros":
        return kind, Augmenter(augment_idx, augment_dims, order=placement), vector_field
    if kind == "input_layer":
        if augment_dims == 0:
            raise ValueError(
                "augmentation='input_layer' learns the `augment_dims` augmented entries; it "
                "needs augment_dims >= 1, got 0."
            )
        layer = augmentation if isinstance(augmentation, nn.Module) else None
        return kind, InputLayerAugmenter(augment_idx, augment_dims, layer, placement), vector_field
    augmenter = SecondOrderAugmenter(augment_idx, augment_dims, placement, initial_velocity)
    return kind, augmenter, SecondOrderField(vector_field, augment_idx)
