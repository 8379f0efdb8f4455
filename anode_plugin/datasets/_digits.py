"""scikit-learn's bundled 8x8 digits: the offline image data set, no download needed."""

from __future__ import annotations

import os

import torch
from sklearn.datasets import load_digits
from torch.utils.data import Dataset, TensorDataset

from ._images import ImageDataModule

__all__ = ["DigitsDataModule"]

# The bundled digits are counts of set pixels in 4x4 blocks, from 0 to 16.
_MAX_VALUE = 16.0


class DigitsDataModule(ImageDataModule):
    """The 1,797 8x8 digits bundled with scikit-learn: ``[1, 8, 8]`` in ``[0, 1]``, 10 classes.

    Pixel values (0 to 16) are divided by 16. A seeded, class-stratified split keeps
    ``test_fraction`` of the images for testing. The data ship inside scikit-learn, so
    nothing is downloaded and there is no published checksum to verify.

    Args:
        test_fraction: fraction of the 1,797 images kept for testing, in ``(0, 1)``.
        data_dir: ignored (the data ship with scikit-learn); kept for a uniform interface.
        download: ignored, likewise.
        batch_size: images per batch.
        num_workers: data-loading worker processes.
        train_subset: use only this many training images (``None`` for all).
        test_subset: use only this many test images (``None`` for all).
        val_split: fraction of the training images held out for validation.
        seed: seed of the split, the subsets and the shuffling.
        verify_checksums: ignored: there is no published checksum to verify.
    """

    name = "digits"
    image_shape = (1, 8, 8)
    num_classes = 10

    def __init__(
        self,
        *,
        test_fraction: float = 0.2,
        data_dir: str | os.PathLike[str] = "data",
        download: bool = False,
        batch_size: int = 256,
        num_workers: int = 0,
        train_subset: int | None = None,
        test_subset: int | None = None,
        val_split: float = 0.0,
        seed: int = 0,
        verify_checksums: bool = True,
    ) -> None:
        super().__init__(
            data_dir=data_dir,
            download=download,
            batch_size=batch_size,
            num_workers=num_workers,
            train_subset=train_subset,
            test_subset=test_subset,
            val_split=val_split,
            seed=seed,
            verify_checksums=verify_checksums,
            checksums={},
        )
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float):
            raise ValueError(f"`test_fraction` must be a number in (0, 1), got {test_fraction!r}.")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"`test_fraction` must be in (0, 1), got {test_fraction!r}.")
        self.test_fraction = float(test_fraction)

    def _download_files(self) -> None:
        return None

    def _full_sets(self) -> tuple[Dataset, Dataset]:
        digits = load_digits()
        images = torch.as_tensor(digits.images, dtype=torch.float32).div(_MAX_VALUE).unsqueeze(1)
        labels = torch.as_tensor(digits.target)
        generator = torch.Generator().manual_seed(self.seed)
        train_idx, test_idx = [], []
        for label in range(self.num_classes):
            members = torch.nonzero(labels == label).flatten()
            members = members[torch.randperm(len(members), generator=generator)]
            num_test = round(self.test_fraction * len(members))
            test_idx.append(members[:num_test])
            train_idx.append(members[num_test:])
        train, test = torch.cat(train_idx), torch.cat(test_idx)
        return (
            TensorDataset(images[train], labels[train]),
            TensorDataset(images[test], labels[test]),
        )
