"""``ImageDataModule``, the base of the image DataModules, and its ``uint8`` data set.

Images are served as ``ToTensor`` gives them (floats in ``[0, 1]``, ``[c, h, w]``),
without normalisation or augmentation, as in the paper. Every file is checked against
its published MD5 before it is read.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from .._validation import check_non_negative_int, check_positive_int
from ._checksums import CHECKSUMS, verify_files

__all__ = ["ImageDataModule", "UInt8ImageDataset"]


class UInt8ImageDataset(Dataset):
    """Images kept as ``uint8`` in memory and served as ``ToTensor`` would serve them.

    Args:
        images: ``[n, c, h, w]`` ``uint8`` tensor.
        labels: ``[n]`` integer class labels.
    """

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"`images` must be a uint8 tensor [n, c, h, w], got {images.dtype} "
                f"{tuple(images.shape)}."
            )
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"`labels` must have shape [{images.shape[0]}], got {tuple(labels.shape)}."
            )
        self.images = images
        self.labels = labels.long()

    @classmethod
    def from_idx(cls, images: np.ndarray, labels: np.ndarray) -> UInt8ImageDataset:
        """The data set of IDX arrays: grey images ``[n, h, w]`` (one channel added) and
        integer labels ``[n]``."""
        return cls(
            torch.from_numpy(images).unsqueeze(1).contiguous(),
            torch.from_numpy(labels.astype(np.int64)),
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index].float().div_(255.0), self.labels[index]


def _check_optional_positive(name: str, value: int | None) -> int | None:
    return None if value is None else check_positive_int(name, value)


class ImageDataModule(pl.LightningDataModule, ABC):
    """Base of the image DataModules: subsets, validation split, seeded loaders.

    Subclasses name their files (``CHECKSUMS[name]``) and build the full training and
    test sets; this class verifies the files, takes the subsets and serves the loaders.

    Args:
        data_dir: folder holding the data set, laid out as torchvision lays it out.
        download: download missing files in ``prepare_data``.
        batch_size: batch size of every loader (the paper: 256).
        num_workers: loader worker processes.
        train_subset: use only this many training images (random, seeded); ``None``
            for all. Taken after the validation split.
        test_subset: use only this many test images (random, seeded); ``None`` for all.
        val_split: fraction of the training set held out for validation, in ``[0, 1)``;
            0 for no validation loader (the paper).
        seed: seed of the split, the subsets and the training shuffle.
        verify_checksums: check every file against its published MD5 before reading.
        checksums: relative path -> MD5 to use instead of the published table (for
            mirrors or test stand-ins).

    Attributes:
        image_shape: ``(channels, height, width)`` of the images.
        num_classes: number of classes.
    """

    name: ClassVar[str] = ""
    image_shape: ClassVar[tuple[int, int, int]] = (0, 0, 0)
    num_classes: ClassVar[int] = 0

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] = "data",
        download: bool = False,
        batch_size: int = 256,
        num_workers: int = 0,
        train_subset: int | None = None,
        test_subset: int | None = None,
        val_split: float = 0.0,
        seed: int = 0,
        verify_checksums: bool = True,
        checksums: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir).expanduser()
        self.download = bool(download)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_workers = check_non_negative_int("num_workers", num_workers)
        self.train_subset = _check_optional_positive("train_subset", train_subset)
        self.test_subset = _check_optional_positive("test_subset", test_subset)
        if isinstance(val_split, bool) or not isinstance(val_split, int | float):
            raise ValueError(f"`val_split` must be a number in [0, 1), got {val_split!r}.")
        if not 0.0 <= val_split < 1.0:
            raise ValueError(f"`val_split` must be in [0, 1), got {val_split!r}.")
        self.val_split = float(val_split)
        self.seed = int(seed)
        self.verify_checksums = bool(verify_checksums)
        self.checksums = dict(CHECKSUMS.get(self.name, {}) if checksums is None else checksums)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _download_files(self) -> None:
        """Fetch the data set's files into ``data_dir`` (called only with ``download``)."""

    @abstractmethod
    def _full_sets(self) -> tuple[Dataset, Dataset]:
        """The full training and test sets, read from verified files."""

    def _remedy(self) -> str:
        return (
            f"Pass download=True (e.g. {type(self).__name__}(data_dir={str(self.data_dir)!r}, "
            f"download=True)) or put the files under {self.data_dir}."
        )

    def _describe_file(self) -> Callable[[Path], str | None] | None:
        """What a file that fails its checksum holds, for the error; ``None``: not read."""
        return None

    # ------------------------------------------------------------------ Lightning hooks
    def prepare_data(self) -> None:
        if self.download:
            self._download_files()

    def verify(self) -> None:
        """Check every file this DataModule reads against its MD5 (see ``checksums``)."""
        if self.checksums:
            verify_files(
                self.data_dir,
                self.checksums,
                dataset=self.name,
                remedy=self._remedy(),
                describe=self._describe_file(),
            )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if self.verify_checksums:
            self.verify()
        train, test = self._full_sets()
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(train), generator=generator).tolist()
        num_val = round(self.val_split * len(train))
        val_idx, train_idx = order[:num_val], order[num_val:]
        if self.train_subset is not None:
            if self.train_subset > len(train_idx):
                raise ValueError(
                    f"`train_subset`={self.train_subset} exceeds the {len(train_idx)} "
                    f"training images of {self.name} (after the validation split)."
                )
            train_idx = train_idx[: self.train_subset]
        test_idx = list(range(len(test)))
        if self.test_subset is not None:
            if self.test_subset > len(test):
                raise ValueError(
                    f"`test_subset`={self.test_subset} exceeds the {len(test)} test images "
                    f"of {self.name}."
                )
            test_idx = torch.randperm(len(test), generator=generator)[: self.test_subset].tolist()
        self.train_set = Subset(train, train_idx)
        self.val_set = Subset(train, val_idx) if val_idx else None
        self.test_set = Subset(test, test_idx)

    def _loader(self, dataset: Dataset, *, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup()
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.train_set is None:
            self.setup()
        return [] if self.val_set is None else self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup()
        return self._loader(self.test_set, shuffle=False)
