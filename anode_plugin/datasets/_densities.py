"""Densities for continuous normalizing flows: 2-D toys and the dequantised 8x8 digits.

The four 2-D densities are those FFJORD and its successors use to show what a
homeomorphism from a Gaussian struggles with (several modes, holes, sharp edges). All
are generated offline from a seed. The digits are scikit-learn's bundled 8x8 images as
64-vectors, dequantised with uniform noise as FFJORD does for images.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .._validation import check_choice, check_non_negative_int, check_positive_int

__all__ = [
    "DENSITIES",
    "DIGITS_BIN_WIDTH",
    "DensityDataModule",
    "bits_per_dim",
    "checkerboard",
    "concentric_rings",
    "density_samples",
    "digits_counts",
    "eight_gaussians",
    "two_moons",
]

# Digits: pixel counts 0..16 (17 levels); x = (count + u) * bin - 2, u ~ U[0, 1), in [-2, 2).
_LEVELS = 17
DIGITS_BIN_WIDTH = 4.0 / _LEVELS


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def two_moons(n: int, *, seed: int = 0, noise: float = 0.1) -> Tensor:
    """Two interleaved half circles with Gaussian noise, centred: ``[n, 2]``."""
    g = _generator(seed)
    upper = torch.rand(n, generator=g) < 0.5
    angle = torch.rand(n, generator=g) * math.pi
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([x - 0.5, y - 0.25], dim=1) * 2
    return points + noise * 2 * torch.randn(n, 2, generator=g)


def concentric_rings(n: int, *, seed: int = 0, noise: float = 0.08) -> Tensor:
    """Three concentric rings of radii 1, 2 and 3, points in proportion to length: ``[n, 2]``."""
    g = _generator(seed)
    radius = torch.multinomial(torch.tensor([1.0, 2.0, 3.0]), n, replacement=True, generator=g)
    angle = torch.rand(n, generator=g) * 2 * math.pi
    r = (radius + 1).float()
    points = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)
    return points + noise * torch.randn(n, 2, generator=g)


def eight_gaussians(n: int, *, seed: int = 0, std: float = 0.3) -> Tensor:
    """Eight Gaussians of standard deviation ``std`` on a circle of radius 2.5: ``[n, 2]``."""
    g = _generator(seed)
    mode = torch.randint(0, 8, (n,), generator=g).float() * (2 * math.pi / 8)
    centres = 2.5 * torch.stack([torch.cos(mode), torch.sin(mode)], dim=1)
    return centres + std * torch.randn(n, 2, generator=g)


def checkerboard(n: int, *, seed: int = 0) -> Tensor:
    """Uniform on the black squares of a 4x4 checkerboard covering ``[-4, 4]^2``: ``[n, 2]``."""
    g = _generator(seed)
    x1 = torch.rand(n, generator=g) * 4 - 2
    x2 = torch.rand(n, generator=g) - torch.randint(0, 2, (n,), generator=g).float() * 2
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], dim=1) * 2


def digits_counts() -> Tensor:
    """scikit-learn's 1,797 8x8 digits as pixel counts 0..16: ``[1797, 64]`` float."""
    from sklearn.datasets import load_digits

    return torch.as_tensor(load_digits().data, dtype=torch.float32)


#: The 2-D densities by name.
DENSITIES: dict[str, Callable[..., Tensor]] = {
    "two_moons": two_moons,
    "concentric_rings": concentric_rings,
    "eight_gaussians": eight_gaussians,
    "checkerboard": checkerboard,
}
_NAMES = (*DENSITIES, "digits")


def density_samples(name: str, n: int, *, seed: int = 0) -> Tensor:
    """``n`` samples of a 2-D density of :data:`DENSITIES`: ``[n, 2]``, float32."""
    check_choice("name", name, DENSITIES)
    return DENSITIES[name](check_positive_int("n", n), seed=seed).float()


def bits_per_dim(nll: Tensor | float, dims: int, bin_width: float) -> Tensor | float:
    """Bits per dimension of discrete data from a continuous NLL of its dequantised form.

    With ``x = bin_width * (k + u) + shift`` and ``u ~ U[0, 1)^D``, the discrete model
    ``P(k) = int p(x) dx`` over the bin satisfies ``-log P(k) <= E_u[-log p(x)] - D log
    bin_width`` (Theis et al., 2016); this converts that bound to bits per dimension.

    Args:
        nll: the negative log-density of the dequantised data in nats (any shape).
        dims: ``D``, entries per sample.
        bin_width: the width of one quantisation level in the model's units.

    Returns:
        ``(nll - D log bin_width) / (D log 2)``, of ``nll``'s shape.
    """
    return (nll - dims * math.log(bin_width)) / (dims * math.log(2))


class _Dequantised(Dataset):
    """Pixel counts dequantised with fresh uniform noise on every access (training)."""

    def __init__(self, counts: Tensor) -> None:
        self.counts = counts

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, index: int) -> tuple[Tensor]:
        u = torch.rand_like(self.counts[index])
        return ((self.counts[index] + u) * DIGITS_BIN_WIDTH - 2.0,)


class _Fixed(Dataset):
    def __init__(self, x: Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[Tensor]:
        return (self.x[index],)


class DensityDataModule(pl.LightningDataModule):
    """Batches ``(x,)`` of a density: a 2-D toy of :data:`DENSITIES` or ``'digits'``.

    The 2-D toys draw ``n_train`` training and ``n_val`` validation points from their
    seeded generators. ``'digits'`` splits scikit-learn's 1,797 digits (seeded) into
    ``n_val`` validation images and the rest for training (``n_train`` caps it), as
    64-vectors ``x = (count + u) * 4/17 - 2`` in ``[-2, 2)``; the training images get
    fresh uniform noise ``u`` on every access, the validation ones a fixed draw.
    :attr:`bin_width` is then ``4/17`` (see :func:`bits_per_dim`).

    Args:
        name: one of ``'two_moons'``, ``'concentric_rings'``, ``'eight_gaussians'``,
            ``'checkerboard'``, ``'digits'``.
        n_train: training points (for digits: at most this many images).
        n_val: validation points.
        batch_size: points per batch.
        seed: seed of the generation, the split and the dequantisation of validation data.
        num_workers: data-loading worker processes.

    Shape:
        - a batch: ``(x,)`` with ``x`` ``[batch, 2]`` (toys) or ``[batch, 64]`` (digits).
    """

    def __init__(
        self,
        name: str = "two_moons",
        *,
        n_train: int = 2000,
        n_val: int = 500,
        batch_size: int = 256,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.name = check_choice("name", name, _NAMES)
        self.n_train = check_positive_int("n_train", n_train)
        self.n_val = check_positive_int("n_val", n_val)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = int(seed)
        self.num_workers = check_non_negative_int("num_workers", num_workers)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    @property
    def dims(self) -> int:
        """Entries per sample: 2, or 64 for the digits."""
        return 64 if self.name == "digits" else 2

    @property
    def bin_width(self) -> float | None:
        """Width of a quantisation level of discrete data (digits), ``None`` for the toys."""
        return DIGITS_BIN_WIDTH if self.name == "digits" else None

    def setup(self, stage: str | None = None) -> None:
        """Generate (toys) or split and dequantise (digits) the data, once."""
        if self.train_set is not None:
            return
        if self.name != "digits":
            self.train_set = _Fixed(density_samples(self.name, self.n_train, seed=self.seed))
            self.val_set = _Fixed(density_samples(self.name, self.n_val, seed=self.seed + 10_000))
            return
        counts = digits_counts()
        g = _generator(self.seed)
        order = torch.randperm(len(counts), generator=g)
        n_val = min(self.n_val, len(counts) - 1)
        val, train = counts[order[:n_val]], counts[order[n_val:]][: self.n_train]
        u = torch.rand(val.shape, generator=g)
        self.val_set = _Fixed((val + u) * DIGITS_BIN_WIDTH - 2.0)
        self.train_set = _Dequantised(train)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches."""
        self.setup()
        g = _generator(self.seed)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            generator=g,
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        """Validation batches, in order."""
        self.setup()
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers)
