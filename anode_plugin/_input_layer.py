"""The input-layer augmentation (IL-NODE, Massaroli et al., 2020): ``z0 = [x, phi(x)]``.

:class:`InputLayer` is the default ``phi``, a lazy ``nn.LazyLinear`` applied along one
dimension (a 1x1 convolution for images); :class:`InputLayerAugmenter` concatenates it.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._augment import Augmenter
from ._errors import StateShapeError
from ._validation import check_non_negative_int, check_positive_int

__all__ = ["InputLayer", "InputLayerAugmenter"]


class InputLayer(nn.LazyLinear):
    """A learned linear map along one dimension: ``nn.Linear`` for vectors, a 1x1
    convolution for images (the same map, applied to each pixel's channels).

    An ``nn.LazyLinear`` (torch's lazy machinery, ``nn.Linear``'s initialisation) that
    maps along ``augment_idx`` instead of the last dimension. Built lazily: the input
    size is read from the first input unless ``in_features`` is given. Initialised as
    ``nn.Linear`` and ``nn.Conv2d`` are (the two agree for a 1x1 kernel).

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

    # Stays an InputLayer once built (LazyLinear becomes an nn.Linear): its forward maps
    # along `augment_idx`, and `add_in_features` sizes the output from the input.
    cls_to_become = None

    def __init__(
        self,
        out_features: int,
        in_features: int | None = None,
        *,
        augment_idx: int = 1,
        add_in_features: bool = False,
    ) -> None:
        out_features = check_non_negative_int("out_features", out_features)
        with warnings.catch_warnings():  # torch's "lazy modules are a new feature" notice
            warnings.simplefilter("ignore", UserWarning)
            super().__init__(out_features)  # weight and bias uninitialised
        self.augment_idx = augment_idx
        self.add_in_features = bool(add_in_features)
        # `None` until known (LazyLinear's 0); it stays `None` when a state dict builds it.
        self.in_features: int | None = None  # type: ignore[assignment]
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
        # `not in_features`: also during nn.Linear's own __init__, with in_features=0.
        if self.has_uninitialized_params() or not self.in_features:
            return
        nn.Linear.reset_parameters(self)

    def initialize_parameters(self, x: Tensor) -> None:  # type: ignore[override]
        """Build the weights from the size of the first input (lazy modules' hook)."""
        if self.has_uninitialized_params():
            self._build(x.shape[self.augment_idx % x.ndim])

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """``phi(x)``: the linear map applied along ``augment_idx``."""
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
