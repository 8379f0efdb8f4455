"""Lightning DataModules that serve the toy data sets of ``_toy``: one family.

Every module holds train, validation and test splits in memory. Its training order is
a seeded shuffle that depends on ``(seed, epoch)`` only, so a resumed run sees the
same batches as an uninterrupted one, and each process of a multi-process run takes
its own share of it. The classification data sets take a ``labels`` convention:
``'signed'`` (float ``+-1`` targets ``[n, 1]``, the paper's regression-style loss) or
``'classes'`` (int64 class indices ``[n]``, for a cross-entropy loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from typing_extensions import override

from .._validation import check_choice, check_non_negative_int, check_positive_int
from ._toy import concentric_spheres, g1d, shifted_sines, spheres_generalisation_split

__all__ = [
    "LABELS",
    "ConcentricSpheresDataModule",
    "G1dDataModule",
    "ReflectionDataModule",
    "ShiftedSinesDataModule",
    "SpheresGeneralisationDataModule",
    "ToyDataModule",
]

LABELS = ("signed", "classes")

# Held-out splits are drawn from seeds derived from `seed`, so that asking for a
# validation or test split never changes the training split of the same seed.
_SPLIT_SEED_STRIDE = 1_000_003


def _split_seed(seed: int, split: str) -> int:
    return seed + {"val": 1, "test": 2}[split] * _SPLIT_SEED_STRIDE


def _as_labels(y: Tensor, labels: str) -> Tensor:
    """``+-1`` targets ``[n, 1]`` as given (``'signed'``) or as class indices ``[n]``."""
    return y if labels == "signed" else (y[:, 0] > 0).long()


class _ReplayedShuffle(DistributedSampler):
    """The training order of epoch ``e``, rebuilt from ``seed`` and ``e`` alone.

    It replays the draws that a ``DataLoader(shuffle=True, generator=manual_seed(seed))``
    read by Lightning makes from its generator: per epoch, the workers' base seed and
    the permutation, then the sampler's trailing (empty) partial permutation, which is
    drawn only when the last batch is partial (Lightning stops a sized loader after its
    last batch; a partial batch runs the sampler dry first). So a single process sees
    exactly the batches the toy experiments have always been trained on, while the order
    depends on the epoch only (resumable) and is split across processes as
    ``DistributedSampler`` does (a subclass, so Lightning keeps it).
    """

    def __init__(self, dataset: TensorDataset, *, batch_size: int, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.batch_size = batch_size

    @override
    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epoch + 1):
            torch.empty((), dtype=torch.int64).random_(generator=generator)
            order = torch.randperm(n, generator=generator).tolist()
            if self.num_samples % self.batch_size:
                torch.randperm(n, generator=generator)
        padding = self.total_size - n
        order += (order * math.ceil(padding / n))[:padding] if padding > 0 else []
        return iter(order[self.rank : self.total_size : self.num_replicas])


class ToyDataModule(pl.LightningDataModule):
    """Serves in-memory tensors: a seeded, resumable, DDP-sharded training loader.

    Args:
        x: training inputs ``[n, d]``.
        y: training targets ``[n, k]``, or class indices ``[n]``.
        x_val: validation inputs ``[m, d]``, or ``None`` for no validation loader.
        y_val: validation targets, given with ``x_val``.
        x_test: test inputs, or ``None`` for no test loader.
        y_test: test targets, given with ``x_test``.
        batch_size: batch size of every loader.
        seed: seed of the training order (and, in the subclasses, of the data).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        *,
        x_val: Tensor | None = None,
        y_val: Tensor | None = None,
        x_test: Tensor | None = None,
        y_test: Tensor | None = None,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, inputs, targets in (
            ("", x, y),
            ("_val", x_val, y_val),
            ("_test", x_test, y_test),
        ):
            if (inputs is None) != (targets is None):
                raise ValueError(f"`x{name}` and `y{name}` must be given together.")
            if inputs is not None and (
                inputs.ndim != 2 or targets.ndim not in (1, 2) or len(inputs) != len(targets)
            ):
                raise ValueError(
                    f"`x{name}` and `y{name}` must be [n, d] and [n, k] (or [n]) with the "
                    f"same n, got {tuple(inputs.shape)} and {tuple(targets.shape)}."
                )
        self.x, self.y = x, y
        self.x_val, self.y_val = x_val, y_val
        self.x_test, self.y_test = x_test, y_test
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = check_non_negative_int("seed", seed)

    @property
    def dim(self) -> int:
        """Input dimension ``d``."""
        return int(self.x.shape[1])

    @override
    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        data = TensorDataset(self.x, self.y)
        sampler = _ReplayedShuffle(
            data, batch_size=self.batch_size, num_replicas=replicas, rank=rank, seed=self.seed
        )
        # A private generator for the loader's own draw (its workers' base seed), so
        # that iterating never consumes the global random state.
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(data, batch_size=self.batch_size, sampler=sampler, generator=generator)

    def _held_out(self, x: Tensor | None, y: Tensor | None) -> DataLoader | list:
        if x is None:
            return []
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size)

    @override
    def val_dataloader(self) -> DataLoader | list:
        return self._held_out(self.x_val, self.y_val)

    @override
    def test_dataloader(self) -> DataLoader | list:
        return self._held_out(self.x_test, self.y_test)

    @override
    def predict_dataloader(self) -> DataLoader | list:
        return self._held_out(self.x_test, self.y_test)


def _drawn_splits(
    draw: Callable[[Any, int], tuple[Tensor, Tensor]],
    size: Any,
    *,
    num_val: int,
    num_test: int,
    seed: int,
) -> dict[str, Tensor | None]:
    """``x, y`` drawn by ``draw(size, seed)``, then ``x_val, y_val, x_test, y_test`` from
    seeds derived from ``seed`` (``None`` for size 0): ``ToyDataModule``'s arguments."""
    x, y = draw(size, seed)
    splits: dict[str, Tensor | None] = {"x": x, "y": y}
    for split, n in (("val", num_val), ("test", num_test)):
        n = check_non_negative_int(f"num_{split}", n)
        inputs, targets = draw(n, _split_seed(seed, split)) if n else (None, None)
        splits[f"x_{split}"], splits[f"y_{split}"] = inputs, targets
    return splits


def _proportional(size: int, first: int, second: int) -> tuple[int, int]:
    """``size`` split between two classes in the proportion ``first : second``."""
    lead = round(size * first / (first + second))
    return lead, size - lead


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
            **_drawn_splits(draw, num_points, num_val=num_val, num_test=num_test, seed=seed),
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
            **_drawn_splits(draw, num_train, num_val=num_val, num_test=num_test, seed=seed),
            batch_size=batch_size,
            seed=seed,
        )


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
            first, second = n if isinstance(n, tuple) else _proportional(n, *sizes)
            x, y = draw(first, second, seed)
            return x, _as_labels(y, labels)

        super().__init__(
            **_drawn_splits(labelled, sizes, num_val=num_val, num_test=num_test, seed=seed),
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
            _as_labels(y, labels),
            x_val=x_val,
            y_val=_as_labels(y_val, labels),
            batch_size=batch_size,
            seed=seed,
        )
        self.labels = labels
