"""The toy regression DataModules: ``g1d`` (section 3) and the reflection."""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import check_positive_int
from ._toy import g1d
from ._toy_datamodule import ToyDataModule, drawn_splits

__all__ = ["G1dDataModule", "ReflectionDataModule"]


class G1dDataModule(ToyDataModule):
    """``g1d`` of section 3 (``flip=True``) or the identity (``flip=False``) on ``{-1, 1}``.

    Args:
        num_points: training points.
        flip: ``True`` for the target ``-x``; ``False`` for the identity.
        num_val: validation points (0 for none).
        num_test: test points (0 for none).
        batch_size: points per batch.
        seed: seed of the points and of the training order.

    Shape:
        - ``x``, ``y``: ``[batch, 1]`` (float32).
    """

    def __init__(
        self,
        *,
        num_points: int = 64,
        flip: bool = True,
        num_val: int = 0,
        num_test: int = 0,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        def draw(n: int, seed: int) -> tuple[Tensor, Tensor]:
            return g1d(num_points=n, flip=flip, seed=seed)

        super().__init__(
            **drawn_splits(draw, num_points, num_val=num_val, num_test=num_test, seed=seed),
            batch_size=batch_size,
            seed=seed,
        )


class ReflectionDataModule(ToyDataModule):
    """The reflection ``y = -x`` on ``[-1, 1]^dim``.

    For ``dim=1`` this is the continuous version of the paper's ``g1d``, which the flow
    of a Neural ODE cannot represent without augmentation or a readout.

    Args:
        dim: dimension of the points.
        num_train: training points.
        num_val: validation points (0 for none).
        num_test: test points (0 for none).
        batch_size: points per batch.
        seed: seed of the points and of the training order.

    Shape:
        - ``x``, ``y``: ``[batch, dim]`` (float32).
    """

    def __init__(
        self,
        dim: int = 1,
        *,
        num_train: int = 256,
        num_val: int = 64,
        num_test: int = 64,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        dim = check_positive_int("dim", dim)

        def draw(n: int, seed: int) -> tuple[Tensor, Tensor]:
            x = 2.0 * torch.rand(n, dim, generator=torch.Generator().manual_seed(seed)) - 1.0
            return x, -x

        num_train = check_positive_int("num_train", num_train)
        super().__init__(
            **drawn_splits(draw, num_train, num_val=num_val, num_test=num_test, seed=seed),
            batch_size=batch_size,
            seed=seed,
        )
