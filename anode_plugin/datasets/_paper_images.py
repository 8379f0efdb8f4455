"""Lightning DataModules for the paper's image data sets: MNIST, CIFAR10 and SVHN.

Images are served as ``ToTensor`` gives them (floats in ``[0, 1]``, ``[c, h, w]``),
without normalisation or augmentation, as in the paper. Every file is checked against
its published MD5 before it is read.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.io import loadmat
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets

from ._idx import describe_idx, read_idx
from ._images import ImageDataModule, UInt8ImageDataset

__all__ = ["CIFAR10DataModule", "MNISTDataModule", "SVHNDataModule"]


class MNISTDataModule(ImageDataModule):
    """MNIST, 28x28 grey digits: ``[1, 28, 28]`` in ``[0, 1]``, 10 classes.

    Reads torchvision's layout ``<data_dir>/MNIST/raw/*-ubyte`` (IDX files, each
    plain or gzipped as ``*-ubyte.gz``); e.g. ``MNISTDataModule(data_dir="../shared/data")``
    works offline here. A valid IDX file that is not MNIST's is reported as such (not as
    a damaged download); for other IDX data use :class:`GenericImageDataModule`. See
    :class:`ImageDataModule` for the options.
    """

    name = "mnist"
    image_shape = (1, 28, 28)
    num_classes = 10

    def _download_files(self) -> None:
        for train in (True, False):
            tv_datasets.MNIST(str(self.data_dir), train=train, download=True)

    def _describe_file(self) -> Callable[[Path], str | None]:
        return describe_idx

    def _read(self, stem: str) -> np.ndarray:
        path = self.data_dir / "MNIST" / "raw" / stem
        gz = path.with_name(stem + ".gz")
        return read_idx(gz if not path.is_file() and gz.is_file() else path)

    def _full_sets(self) -> tuple[Dataset, Dataset]:
        sets = []
        for prefix in ("train", "t10k"):
            images = self._read(f"{prefix}-images-idx3-ubyte")
            labels = self._read(f"{prefix}-labels-idx1-ubyte")
            if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
                raise ValueError(
                    f"{self.data_dir / 'MNIST' / 'raw'}: {prefix}-images-idx3-ubyte is a "
                    f"valid IDX file but holds {images.dtype} images of shape "
                    f"{images.shape[1:]}, not MNIST's 28x28 uint8: it is not MNIST. For "
                    "your own IDX data use GenericImageDataModule(source='idx', "
                    "data_dir=FOLDER)."
                )
            sets.append(UInt8ImageDataset.from_idx(images, labels))
        return sets[0], sets[1]


class CIFAR10DataModule(ImageDataModule):
    """CIFAR10, 32x32 colour images: ``[3, 32, 32]`` in ``[0, 1]``, 10 classes.

    Reads torchvision's layout ``<data_dir>/cifar-10-batches-py/`` (pickled batches).
    See :class:`ImageDataModule` for the options.
    """

    name = "cifar10"
    image_shape = (3, 32, 32)
    num_classes = 10

    def _download_files(self) -> None:
        tv_datasets.CIFAR10(str(self.data_dir), train=True, download=True)

    def _full_sets(self) -> tuple[Dataset, Dataset]:
        # Read directly (the format torchvision reads): torchvision would check the
        # files once more, against its own table only, with a vaguer message.
        folder = self.data_dir / tv_datasets.CIFAR10.base_folder
        train = [name for name, _ in tv_datasets.CIFAR10.train_list]
        test = [name for name, _ in tv_datasets.CIFAR10.test_list]
        return _read_cifar(folder, train), _read_cifar(folder, test)


class SVHNDataModule(ImageDataModule):
    """SVHN (cropped digits), 32x32 colour: ``[3, 32, 32]`` in ``[0, 1]``, 10 classes.

    Reads ``<data_dir>/SVHN/{train,test}_32x32.mat`` (the ``extra`` split is not used);
    label 10 of the files is digit 0, as in torchvision. See :class:`ImageDataModule`
    for the options.
    """

    name = "svhn"
    image_shape = (3, 32, 32)
    num_classes = 10

    def _download_files(self) -> None:
        for split in ("train", "test"):
            tv_datasets.SVHN(str(self.data_dir / "SVHN"), split=split, download=True)

    def _full_sets(self) -> tuple[Dataset, Dataset]:
        return _read_svhn(self.data_dir / "SVHN" / "train_32x32.mat"), _read_svhn(
            self.data_dir / "SVHN" / "test_32x32.mat"
        )


def _read_cifar(folder: Path, names: list[str]) -> UInt8ImageDataset:
    """CIFAR's pickled batches: ``data`` ``[n, 3072]`` uint8 (RGB planes), ``labels``."""
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as handle:
            entry = pickle.load(handle, encoding="latin1")
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry["labels"])
    return UInt8ImageDataset(torch.from_numpy(np.concatenate(images)), torch.as_tensor(labels))


def _read_svhn(path: Path) -> UInt8ImageDataset:
    """SVHN's ``.mat``: ``X`` ``[32, 32, 3, n]`` uint8, ``y`` ``[n, 1]`` with 10 for digit 0."""
    mat = loadmat(str(path))
    images = np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1)))
    labels = mat["y"].astype(np.int64).squeeze(1) % 10
    return UInt8ImageDataset(torch.from_numpy(images), torch.from_numpy(labels))
