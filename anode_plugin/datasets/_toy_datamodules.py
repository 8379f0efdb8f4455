"""Lightning DataModules that serve the toy data sets of ``_toy``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from .._validation import check_positive_int
from ._toy import concentric_spheres, g1d, shifted_sines, spheres_generalisation_split

__all__ = [
    "ConcentricSpheresDataModule",
    "G1dDataModule",
    "ShiftedSinesDataModule",
    "SpheresGeneralisationDataModule",
    "ToyDataModule",
]


class ToyDataModule(pl.LightningDataModule):
    """Serves in-memory tensors: a shuffled training loader and an optional validation one.

    Args:
        x: training inputs ``[n, d]``.
        y: training targets ``[n, 1]``.
        x_val: validation inputs ``[m, d]``, or ``None`` for no validation loader.
        y_val: validation targets ``[m, 1]``.
        batch_size: training and validation batch size.
        seed: seed of the training shuffle, so that a run is reproducible.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        *,
        x_val: Tensor | None = None,
        y_val: Tensor | None = None,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"`x` and `y` must be [n, d] and [n, 1] with the same n, got "
                f"{tuple(x.shape)} and {tuple(y.shape)}."
            )
        if (x_val is None) != (y_val is None):
            raise ValueError("`x_val` and `y_val` must be given together.")
        self.x, self.y = x, y
        self.x_val, self.y_val = x_val, y_val
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = int(seed)

    @property
    def dim(self) -> int:
        """Input dimension ``d``."""
        return int(self.x.shape[1])

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            TensorDataset(self.x, self.y),
            batch_size=self.batch_size,
            shuffle=True,
            generator=generator,
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.x_val is None:
            return []
        return DataLoader(TensorDataset(self.x_val, self.y_val), batch_size=self.batch_size)


class G1dDataModule(ToyDataModule):
    """``g1d`` of section 3 (``flip=True``) or the identity (``flip=False``) on ``{-1, 1}``."""

    def __init__(
        self, *, num_points: int = 64, flip: bool = True, batch_size: int = 64, seed: int = 0
    ) -> None:
        x, y = g1d(num_points=num_points, flip=flip, seed=seed)
        super().__init__(x, y, batch_size=batch_size, seed=seed)


class ConcentricSpheresDataModule(ToyDataModule):
    """A ball (label -1) inside an annulus (label +1) in ``R^dim``; see ``concentric_spheres``."""

    def __init__(
        self,
        *,
        dim: int = 2,
        num_inner: int = 500,
        num_outer: int = 1500,
        r1: float = 0.5,
        r2: float = 1.0,
        r3: float = 1.5,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        x, y = concentric_spheres(
            dim=dim, num_inner=num_inner, num_outer=num_outer, r1=r1, r2=r2, r3=r3, seed=seed
        )
        super().__init__(x, y, batch_size=batch_size, seed=seed)


class ShiftedSinesDataModule(ToyDataModule):
    """Two shifted sine curves (labels +1 and -1), separable by a homeomorphism."""

    def __init__(
        self,
        *,
        dim: int = 2,
        num_upper: int = 1500,
        num_lower: int = 1500,
        shift: float = 1.4,
        noise_scale: float = 0.1,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        x, y = shifted_sines(
            dim=dim,
            num_upper=num_upper,
            num_lower=num_lower,
            shift=shift,
            noise_scale=noise_scale,
            seed=seed,
        )
        super().__init__(x, y, batch_size=batch_size, seed=seed)


class SpheresGeneralisationDataModule(ToyDataModule):
    """2-D spheres whose points in the angular ``slices`` are held out as validation set."""

    def __init__(
        self,
        *,
        num_inner: int = 500,
        num_outer: int = 1500,
        slices: Sequence[tuple[float, float]] = ((0.0, math.pi / 5),),
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        (x, y), (x_val, y_val) = spheres_generalisation_split(
            num_inner=num_inner, num_outer=num_outer, slices=slices, seed=seed
        )
        super().__init__(x, y, x_val=x_val, y_val=y_val, batch_size=batch_size, seed=seed)
