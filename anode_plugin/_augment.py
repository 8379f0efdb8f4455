"""State augmentation: a drop-in replacement for ``torchdyn.nn.Augmenter``."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._errors import AugmentIndexError, AugmentTypeError, AugmentValueError
from ._validation import check_choice, check_non_negative_int

__all__ = ["Augmenter"]

_ORDERS = ("first", "last")


class _Unset(int):
    """torchdyn's default ``augment_dims`` (5), told apart from a 5 the user passed: an
    ``augment_func`` then sets the size, and only a size the user gave is checked."""

    __slots__ = ()


_DEFAULT_DIMS = _Unset(5)


class Augmenter(nn.Module):
    """Concatenates augmented dimensions to a state, along one dimension.

    Same constructor, defaults and output as ``torchdyn.nn.Augmenter``, so
    ``from anode_plugin import Augmenter`` replaces ``from torchdyn.nn import Augmenter``.
    In addition, :meth:`strip` undoes the augmentation, zeros are created directly on
    the input's dtype and device, any ``augment_func`` module is honoured (an empty
    ``nn.Sequential`` is not mistaken for "no function"), and bad arguments raise a
    ``ValueError`` at construction that is also the type torchdyn raised later
    (:class:`AugmentIndexError` is an ``IndexError``, :class:`AugmentTypeError` a
    ``TypeError``, :class:`AugmentValueError` a ``RuntimeError``).

    Args:
        augment_idx: dimension along which to augment: 1 for the features of a
            ``[batch, d]`` vector or the channels of a ``[batch, c, h, w]`` image.
            Negative values count from the end, as in PyTorch.
        augment_dims: number of zero entries to add along ``augment_idx`` (the
            paper's ``p``). With ``augment_func``, the function's output sets the size (as
            in torchdyn); an ``augment_dims`` given as well that differs from it is warned
            about.
        augment_func: optional module or callable mapping the input to the augmented
            part, which is then concatenated with the input (as torchdyn does: the
            augmented size is the size of ``augment_func``'s output).
        order: ``'first'`` gives ``[augmentation, x]``, ``'last'`` gives ``[x, augmentation]``
            (the paper's convention).

    Shape:
        - Input: ``[batch, d, ...]``.
        - Output: ``[batch, d + augment_dims, ...]`` (sizes along ``augment_idx``).

    Example:
        >>> aug = Augmenter(augment_dims=3, order="last")
        >>> z = aug(torch.ones(4, 2))
        >>> z.shape
        torch.Size([4, 5])
        >>> torch.equal(aug.strip(z), torch.ones(4, 2))
        True
    """

    def __init__(
        self,
        augment_idx: int = 1,
        augment_dims: int = _DEFAULT_DIMS,
        augment_func: Callable[[Tensor], Tensor] | None = None,
        order: str = "first",
    ) -> None:
        super().__init__()
        if isinstance(augment_idx, bool) or not isinstance(augment_idx, int):
            raise AugmentTypeError(f"`augment_idx` must be an integer, got {augment_idx!r}.")
        if augment_func is not None and not callable(augment_func):
            raise AugmentTypeError(
                f"`augment_func` must be a module or callable, or None, got {augment_func!r}."
            )
        if isinstance(augment_dims, bool) or not isinstance(augment_dims, numbers.Integral):
            raise AugmentTypeError(
                f"`augment_dims` must be a non-negative integer, got {augment_dims!r}."
            )
        if augment_dims < 0:
            raise AugmentValueError(
                f"`augment_dims` must be a non-negative integer, got {augment_dims!r}."
            )
        self.augment_idx = augment_idx
        # With an `augment_func`, a size the user gave is a claim to check, not ignore.
        self._expected_func_dims = None if isinstance(augment_dims, _Unset) else int(augment_dims)
        self.augment_dims = int(augment_dims)
        self.augment_func = augment_func
        self.order = check_choice("order", order, _ORDERS)
        # Size of the augmented part produced by `augment_func` on the last call:
        # what `strip` removes when no `original_size` is given.
        self._last_func_dims: int | None = None

    def _dim(self, x: Tensor) -> int:
        idx = self.augment_idx
        if not -x.ndim <= idx < x.ndim:
            raise AugmentIndexError(
                f"`augment_idx`={idx} is outside the dimensions of an input of shape "
                f"{tuple(x.shape)}; allowed: {-x.ndim} to {x.ndim - 1}."
            )
        return idx % x.ndim

    def forward(self, x: Tensor) -> Tensor:
        """Augment ``x``.

        Args:
            x: state of shape ``[batch, d, ...]``.

        Returns:
            The augmented state, ``augment_dims`` larger along ``augment_idx``.
        """
        dim = self._dim(x)
        if self.augment_func is None:
            shape = list(x.shape)
            shape[dim] = self.augment_dims
            try:
                extra = x.new_zeros(shape)
            except RuntimeError as error:  # the allocator's words name neither argument
                size = x.element_size() * math.prod(shape)
                raise AugmentValueError(
                    f"`augment_dims`={self.augment_dims} needs {size / 2**30:.3g} GiB of "
                    f"zeros for an input of shape {tuple(x.shape)}, more than this device "
                    "can allocate; the paper uses 1 to 10 (5 for images)."
                ) from error
        else:
            extra = self.augment_func(x).to(x)
            got = extra.shape[dim] if extra.ndim > dim else None
            if extra.shape[:dim] != x.shape[:dim] or extra.shape[dim + 1 :] != x.shape[dim + 1 :]:
                raise AugmentValueError(
                    f"`augment_func` must return the input's shape except along "
                    f"`augment_idx`={self.augment_idx}; input {tuple(x.shape)}, output "
                    f"{tuple(extra.shape)}."
                )
            if self._expected_func_dims not in (None, got) and self._last_func_dims != got:
                # A warning, not an error: torchdyn ignores `augment_dims` here and its
                # users' code relies on that; said once per size, not every step.
                warnings.warn(
                    f"`augment_func` returned {got} augmented entries along dimension "
                    f"{dim}, but `augment_dims`={self._expected_func_dims}; the function's "
                    f"output sets the size (as in torchdyn), so the state grows by {got}. "
                    f"Make it return {self._expected_func_dims}, or leave `augment_dims` out.",
                    UserWarning,
                    stacklevel=2,
                )
            self._last_func_dims = got
        parts = (extra, x) if self.order == "first" else (x, extra)
        return torch.cat(parts, dim)

    def strip(self, z: Tensor, *, original_size: int | None = None) -> Tensor:
        """Return the original part of an augmented state: ``strip(aug(x))`` equals ``x``.

        Args:
            z: augmented state, ``[batch, d + p, ...]``.
            original_size: size ``d`` of the original part along ``augment_idx``. Needed
                only with an ``augment_func`` whose output size is not yet known.

        Returns:
            A view of ``z`` of shape ``[batch, d, ...]``.
        """
        dim = self._dim(z)
        if original_size is not None:
            extra = z.shape[dim] - check_non_negative_int("original_size", original_size)
        elif self.augment_func is None:
            extra = self.augment_dims
        elif self._last_func_dims is not None:
            extra = self._last_func_dims
        else:
            raise ValueError(
                "`strip` cannot tell the augmented size of an `augment_func` it has not run "
                "yet; call the augmenter first or pass `original_size`."
            )
        if not 0 <= extra <= z.shape[dim]:
            raise ValueError(
                f"Cannot strip {extra} augmented entries from dimension {dim} of size "
                f"{z.shape[dim]} (input shape {tuple(z.shape)})."
            )
        keep = z.shape[dim] - extra
        start = extra if self.order == "first" else 0
        return z.narrow(dim, start, keep)

    def extra_repr(self) -> str:
        return (
            f"augment_idx={self.augment_idx}, augment_dims={self.augment_dims}, "
            f"order={self.order!r}"
        )
