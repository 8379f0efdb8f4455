"""Deprecated names of the toy DataModules, kept for one release.

The toy data sets are one family in :mod:`anode_plugin.datasets`;
``ToyClassificationDataModule`` is ``ConcentricSpheresDataModule(labels='classes')``
and ``ToyRegressionDataModule`` is ``ReflectionDataModule``.
"""

from __future__ import annotations

import warnings

from .._validation import check_positive_float, check_positive_int
from ..datasets import ConcentricSpheresDataModule, ReflectionDataModule

__all__ = ["ToyClassificationDataModule", "ToyRegressionDataModule"]


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"`anode_plugin.lightning.{old}` is deprecated and will be removed in the next "
        f"release; use `anode_plugin.datasets.{new}`.",
        DeprecationWarning,
        stacklevel=3,
    )


class ToyClassificationDataModule(ConcentricSpheresDataModule):
    """Deprecated: ``ConcentricSpheresDataModule(labels='classes')``, old argument names.

    Class 0 fills the ball of radius ``inner_radius``; class 1 the shell between
    ``shell_radii``; half of the ``num_train`` points are in each class.

    Args:
        dim: dimension of the points.
        inner_radius: radius of the inner ball.
        shell_radii: inner and outer radius of the shell.
        num_train: training points.
        num_val: validation points.
        num_test: test points.
        batch_size: points per batch.
        seed: seed of the points and of the training order.
    """

    def __init__(
        self,
        dim: int = 2,
        *,
        inner_radius: float = 0.5,
        shell_radii: tuple[float, float] = (1.0, 1.5),
        num_train: int = 256,
        num_val: int = 64,
        num_test: int = 64,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        _deprecated("ToyClassificationDataModule", "ConcentricSpheresDataModule(labels='classes')")
        inner_radius = check_positive_float("inner_radius", inner_radius)
        low, high = (check_positive_float("shell_radii", r) for r in shell_radii)
        if not inner_radius < low < high:
            raise ValueError(
                f"`shell_radii` must satisfy inner_radius < r2 < r3, got inner_radius="
                f"{inner_radius} and shell_radii={tuple(shell_radii)}."
            )
        num_train = check_positive_int("num_train", num_train)
        super().__init__(
            dim=dim,
            num_inner=num_train // 2,
            num_outer=num_train - num_train // 2,
            r1=inner_radius,
            r2=low,
            r3=high,
            num_val=check_positive_int("num_val", num_val),
            num_test=check_positive_int("num_test", num_test),
            labels="classes",
            batch_size=batch_size,
            seed=seed,
        )


class ToyRegressionDataModule(ReflectionDataModule):
    """Deprecated: :class:`~anode_plugin.datasets.ReflectionDataModule` (same arguments)."""

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
        _deprecated("ToyRegressionDataModule", "ReflectionDataModule")
        super().__init__(
            dim,
            num_train=num_train,
            num_val=num_val,
            num_test=num_test,
            batch_size=batch_size,
            seed=seed,
        )
