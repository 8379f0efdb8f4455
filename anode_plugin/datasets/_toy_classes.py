"""The toy classification DataModules: concentric spheres, shifted sines and the
spheres' generalisation split, each with ``labels`` ``'signed'`` or ``'classes'``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import Tensor

from .._validation import check_choice
from ._toy import concentric_spheres, shifted_sines, spheres_generalisation_split
from ._toy_datamodule import LABELS, ToyDataModule, as_labels, drawn_splits, proportional

__all__ = [
    "ConcentricSpheresDataModule",
    "ShiftedSinesDataModule",
    "SpheresGeneralisationDataModule",
]


def _class_sizes(sizes: dict[str, int]) -> tuple[int, ...]:
    """The training sizes of the classes, each positive: a class of size 0 would train a
    classifier on the other class alone, without a word."""
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"`{name}` must be a positive integer: each class needs training points "
                f"(with 0 the model would train on the other class alone), got {size!r}."
            )
    return tuple(sizes.values())


class _TwoClassDataModule(ToyDataModule):
    """Two classes drawn by ``draw(num_first, num_second, seed) -> (x, y)``, ``y`` in ``+-1``.

    Held-out splits keep the training split's proportion of the two classes.
    """

    def __init__(
        self,
        draw: Callable[[int, int, int], tuple[Tensor, Tensor]],
        sizes: dict[str, int],
        *,
        num_val: int,
        num_test: int,
        labels: str,
        batch_size: int,
        seed: int,
    ) -> None:
        labels = check_choice("labels", labels, LABELS)
        sizes = _class_sizes(sizes)

        def labelled(n: int | tuple[int, int], seed: int) -> tuple[Tensor, Tensor]:
            first, second = n if isinstance(n, tuple) else proportional(n, *sizes)
            x, y = draw(first, second, seed)
            return x, as_labels(y, labels)

        super().__init__(
            **drawn_splits(labelled, sizes, num_val=num_val, num_test=num_test, seed=seed),
            batch_size=batch_size,
            seed=seed,
        )
        self.labels = labels


class ConcentricSpheresDataModule(_TwoClassDataModule):
    """A ball (label -1, class 0) inside an annulus (label +1, class 1) in ``R^dim``.

    The paper's ``g`` (section 4); see ``concentric_spheres``. Held-out splits keep the
    training split's proportion of inner and outer points.

    Args:
        dim: dimension of the points.
        num_inner: training points in the ball ``|x| <= r1``.
        num_outer: training points in the annulus ``r2 <= |x| <= r3``.
        r1: radius of the ball.
        r2: inner radius of the annulus.
        r3: outer radius of the annulus.
        num_val: validation points (0 for none).
        num_test: test points (0 for none).
        labels: ``'signed'`` (``+-1`` targets ``[n, 1]``) or ``'classes'`` (``[n]``).
        batch_size: points per batch.
        seed: seed of the points and of the training order.

    Shape:
        - ``x``: ``[batch, dim]``; ``y``: ``[batch, 1]`` (float32) or ``[batch]`` (int64).
    """

    def __init__(
        self,
        *,
        dim: int = 2,
        num_inner: int = 500,
        num_outer: int = 1500,
        r1: float = 0.5,
        r2: float = 1.0,
        r3: float = 1.5,
        num_val: int = 0,
        num_test: int = 0,
        labels: str = "signed",
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        def draw(inner: int, outer: int, seed: int) -> tuple[Tensor, Tensor]:
            return concentric_spheres(
                dim=dim, num_inner=inner, num_outer=outer, r1=r1, r2=r2, r3=r3, seed=seed
            )

        super().__init__(
            draw,
            {"num_inner": num_inner, "num_outer": num_outer},
            num_val=num_val,
            num_test=num_test,
            labels=labels,
            batch_size=batch_size,
            seed=seed,
        )


class ShiftedSinesDataModule(_TwoClassDataModule):
    """Two shifted sine curves (label +1 / class 1 above, -1 / class 0 below).

    Separable by a homeomorphism; see ``shifted_sines``.

    Args:
        dim: dimension of the points.
        num_upper: training points on the upper curve.
        num_lower: training points on the lower curve.
        shift: vertical distance between the curves.
        noise_scale: standard deviation of the vertical noise.
        num_val: validation points (0 for none).
        num_test: test points (0 for none).
        labels: ``'signed'`` (``+-1`` targets ``[n, 1]``) or ``'classes'`` (``[n]``).
        batch_size: points per batch.
        seed: seed of the points and of the training order.

    Shape:
        - ``x``: ``[batch, dim]``; ``y``: ``[batch, 1]`` (float32) or ``[batch]`` (int64).
    """

    def __init__(
        self,
        *,
        dim: int = 2,
        num_upper: int = 1500,
        num_lower: int = 1500,
        shift: float = 1.4,
        noise_scale: float = 0.1,
        num_val: int = 0,
        num_test: int = 0,
        labels: str = "signed",
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        def draw(upper: int, lower: int, seed: int) -> tuple[Tensor, Tensor]:
            return shifted_sines(
                dim=dim,
                num_upper=upper,
                num_lower=lower,
                shift=shift,
                noise_scale=noise_scale,
                seed=seed,
            )

        super().__init__(
            draw,
            {"num_upper": num_upper, "num_lower": num_lower},
            num_val=num_val,
            num_test=num_test,
            labels=labels,
            batch_size=batch_size,
            seed=seed,
        )


class SpheresGeneralisationDataModule(ToyDataModule):
    """2-D spheres whose points in the angular ``slices`` are held out as validation set.

    Section 5.1's generalisation test; see ``spheres_generalisation_split``.

    Args:
        num_inner: points in the ball, before the slices are held out.
        num_outer: points in the annulus, before the slices are held out.
        slices: half-open angle intervals ``[a, b)`` (radians) held out for validation.
        labels: ``'signed'`` (``+-1`` targets ``[n, 1]``) or ``'classes'`` (``[n]``).
        batch_size: points per batch.
        seed: seed of the points and of the training order.
    """

    def __init__(
        self,
        *,
        num_inner: int = 500,
        num_outer: int = 1500,
        slices: Sequence[tuple[float, float]] = ((0.0, math.pi / 5),),
        labels: str = "signed",
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        labels = check_choice("labels", labels, LABELS)
        _class_sizes({"num_inner": num_inner, "num_outer": num_outer})
        (x, y), (x_val, y_val) = spheres_generalisation_split(
            num_inner=num_inner, num_outer=num_outer, slices=slices, seed=seed
        )
        super().__init__(
            x,
            as_labels(y, labels),
            x_val=x_val,
            y_val=as_labels(y_val, labels),
            batch_size=batch_size,
            seed=seed,
        )
        self.labels = labels
