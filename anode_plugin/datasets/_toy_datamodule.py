"""``ToyDataModule``: the base of the DataModules that serve the toy data sets of ``_toy``.

Every module holds train, validation and test splits in memory. Its training order is
a seeded shuffle that depends on ``(seed, epoch)`` only, so a resumed run sees the
same batches as an uninterrupted one, and each process of a multi-process run takes
its own share of it. The classification data sets take a ``labels`` convention:
``'signed'`` (float ``+-1`` targets ``[n, 1]``, the paper's regression-style loss) or
``'classes'`` (int64 class indices ``[n]``, for a cross-entropy loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from typing_extensions import override

from .._validation import check_non_negative_int, check_positive_int

__all__ = ["LABELS", "ToyDataModule", "as_labels", "drawn_splits", "proportional"]

LABELS = ("signed", "classes")

# Held-out splits are drawn from seeds derived from `seed`, so that asking for a
# validation or test split never changes the training split of the same seed.
_SPLIT_SEED_STRIDE = 1_000_003


def _split_seed(seed: int, split: str) -> int:
    return seed + {"val": 1, "test": 2}[split] * _SPLIT_SEED_STRIDE


def as_labels(y: Tensor, labels: str) -> Tensor:
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


def drawn_splits(
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


def proportional(size: int, first: int, second: int) -> tuple[int, int]:
    """``size`` split between two classes in the proportion ``first : second``."""
    lead = round(size * first / (first + second))
    return lead, size - lead
