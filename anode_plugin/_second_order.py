"""Second-order augmentation (SONODE, Norcliffe et al., 2020) and higher-order systems.

:class:`SecondOrderAugmenter` builds ``z0 = [q0, v0]`` with ``q0 = [x, 0]``;
:class:`SecondOrderField` turns the user's acceleration ``x'' = f(t, [q, v])`` (or the
highest derivative of an ODE of order ``k``) into the first-order system the solvers
integrate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ._augment import Augmenter
from ._errors import StateShapeError
from ._field_call import call_field, call_style, is_shape_error
from ._input_layer import InputLayer
from ._validation import check_choice

__all__ = ["INITIAL_VELOCITIES", "SecondOrderAugmenter", "SecondOrderField", "users_field"]


#: A second-order model's initial velocity: zeros, or learned from ``x`` (a module too).
INITIAL_VELOCITIES = ("zeros", "learned")


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
