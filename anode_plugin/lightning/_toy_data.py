"""Tiny synthetic DataModules so that configs and tests run offline in seconds."""

from __future__ import annotations

from abc import ABC, abstractmethod

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from typing_extensions import override

from .._validation import check_non_negative_int, check_positive_float, check_positive_int
from ..datasets import sample_in_shell

__all__ = ["ToyClassificationDataModule", "ToyRegressionDataModule"]


class _ToyDataModule(pl.LightningDataModule, ABC):
    """Train, validation and test splits drawn once from a seeded generator.

    Training batches are shuffled by a ``DistributedSampler`` seeded with ``seed`` and
    re-shuffled per epoch by Lightning's ``set_epoch``: the order depends on the epoch
    only, never on the global random state, so a resumed run sees the same batches as
    an uninterrupted one, and each process of a multi-process run gets its own share.
    """

    def __init__(
        self,
        *,
        num_train: int,
        num_val: int,
        num_test: int,
        batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.num_train = check_positive_int("num_train", num_train)
        self.num_val = check_positive_int("num_val", num_val)
        self.num_test = check_positive_int("num_test", num_test)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = check_non_negative_int("seed", seed)
        self._splits: dict[str, TensorDataset] = {}

    @abstractmethod
    def _sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` inputs and targets drawn with ``generator``."""

    @override
    def setup(self, stage: str) -> None:
        if self._splits:
            return
        generator = torch.Generator().manual_seed(self.seed)
        for name, size in (
            ("train", self.num_train),
            ("val", self.num_val),
            ("test", self.num_test),
        ):
            self._splits[name] = TensorDataset(*self._sample(size, generator))

    def _loader(self, name: str) -> DataLoader:
        if not self._splits:
            self.setup("fit")
        return DataLoader(self._splits[name], batch_size=self.batch_size)

    @override
    def train_dataloader(self) -> DataLoader:
        if not self._splits:
            self.setup("fit")
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        data = self._splits["train"]
        sampler = DistributedSampler(data, num_replicas=replicas, rank=rank, seed=self.seed)
        return DataLoader(data, batch_size=self.batch_size, sampler=sampler)

    @override
    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    @override
    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    @override
    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")


class ToyClassificationDataModule(_ToyDataModule):
    """Concentric spheres (the paper's ``g``, Section 3) as two classes.

    Class 0 fills the ball of radius ``inner_radius``; class 1 the shell between
    ``shell_radii``. Half the points are in each class.

    Args:
        dim: dimension of the points.
        inner_radius: radius of the inner ball.
        shell_radii: inner and outer radius of the shell.
        num_train: training points.
        num_val: validation points.
        num_test: test points.
        batch_size: points per batch.
        seed: seed of the points and of the training order.

    Shape:
        - ``x``: ``[batch, dim]`` (float32); ``y``: ``[batch]`` (int64, 0 or 1).
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
        super().__init__(
            num_train=num_train,
            num_val=num_val,
            num_test=num_test,
            batch_size=batch_size,
            seed=seed,
        )
        self.dim = check_positive_int("dim", dim)
        self.inner_radius = check_positive_float("inner_radius", inner_radius)
        low, high = (check_positive_float("shell_radii", r) for r in shell_radii)
        if not self.inner_radius < low < high:
            raise ValueError(
                f"`shell_radii` must satisfy inner_radius < r2 < r3, got inner_radius="
                f"{self.inner_radius} and shell_radii={tuple(shell_radii)}."
            )
        self.shell_radii = (low, high)

    @override
    def _sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        # Exactly uniform in the ball and in the shell: the paper's generator, with
        # labels 0/1 for classification and the classes interleaved.
        y = torch.arange(n) % 2
        low, high = self.shell_radii
        x = torch.empty(n, self.dim)
        x[y == 0] = sample_in_shell(
            int((y == 0).sum()), self.dim, 0.0, self.inner_radius, generator=generator
        )
        x[y == 1] = sample_in_shell(int((y == 1).sum()), self.dim, low, high, generator=generator)
        return x, y


class ToyRegressionDataModule(_ToyDataModule):
    """The reflection ``y = -x`` on ``[-1, 1]^dim``.

    For ``dim=1`` this is the paper's 1-D ``g`` (``g(-1) = 1``, ``g(1) = -1``), which
    the flow of a Neural ODE cannot represent without augmentation or a readout.

    Args:
        dim: dimension of the points.
        num_train: training points.
        num_val: validation points.
        num_test: test points.
        batch_size: points per batch.
        seed: seed of the points and of the training order.

    Shape:
        - ``x``: ``[batch, dim]``; ``y``: ``[batch, dim]`` (float32).
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
        super().__init__(
            num_train=num_train,
            num_val=num_val,
            num_test=num_test,
            batch_size=batch_size,
            seed=seed,
        )
        self.dim = check_positive_int("dim", dim)

    @override
    def _sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x = 2.0 * torch.rand(n, self.dim, generator=generator) - 1.0
        return x, -x
