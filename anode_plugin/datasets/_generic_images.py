"""One DataModule for a user's own images: IDX files, an image folder, a torchvision
data set by name, or tensors in memory."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

from torch import Tensor
from torch.utils.data import Dataset, Subset

from .._validation import check_choice, check_positive_int
from ._idx import describe_idx
from ._image_sources import (
    check_source_options,
    count_classes,
    folder_sets,
    idx_sets,
    tensor_set,
    torchvision_set,
)
from ._images import ImageDataModule

__all__ = ["IMAGE_SOURCES", "GenericImageDataModule"]

# source -> what `data_dir` holds for it.
IMAGE_SOURCES: dict[str, str] = {
    "idx": "four IDX files (plain or .gz), named as find_idx_files describes",
    "image_folder": "train/ and test/ folders, one subfolder of images per class",
    "torchvision": "the files of the torchvision data set named by `dataset`",
    "tensors": "nothing: the images are given to GenericImageDataModule.from_tensors",
}


class GenericImageDataModule(ImageDataModule):
    """Image classification from a user's own data, with the options of the paper's sets.

    ``source`` says where the images come from (``data_dir`` is the folder it reads):

    - ``'idx'``: a folder of four IDX files, plain or gzipped (``*.gz``), named as
      MNIST's are: ``idx3`` (images) or ``idx1`` (labels) and ``train`` or
      ``test``/``t10k`` in each name, e.g. ``train-images-idx3-ubyte.gz``. Images are
      ``[n, h, w]`` ``uint8``; labels are integers.
    - ``'image_folder'``: ``data_dir/train/<class>/*.png`` and ``data_dir/test/<class>/...``
      read by torchvision's ``ImageFolder``: as RGB (3 channels) unless ``channels``
      says otherwise; both splits must have the same classes, and all images the same
      size.
    - ``'torchvision'``: the torchvision data set class named by ``dataset`` (e.g.
      ``'FashionMNIST'``), with ``root=data_dir``, its ``train=True/False`` (or
      ``split='train'/'test'``) splits and ``download``.
    - ``'tensors'``: images in memory; use :meth:`from_tensors`.

    Images are served as ``ToTensor`` serves them: ``[c, h, w]`` floats in ``[0, 1]``
    (``uint8`` pixels divided by 255). Subsets, the validation split, the seed and the
    loaders are those of :class:`ImageDataModule`.

    Args:
        source: one of ``IMAGE_SOURCES``: ``'idx'``, ``'image_folder'``,
            ``'torchvision'`` (``'tensors'`` only through :meth:`from_tensors`).
        data_dir: the folder read (see above).
        dataset: the torchvision class name; only with ``source='torchvision'``.
        download: download missing files; only with ``source='torchvision'``.
        batch_size: batch size of every loader.
        num_workers: loader worker processes.
        train_subset: use only this many training images (random, seeded).
        test_subset: use only this many test images (random, seeded).
        val_split: fraction of the training set held out for validation, in ``[0, 1)``.
        seed: seed of the split, the subsets and the training shuffle.
        verify_checksums: check the files of ``checksums`` before reading.
        checksums: path relative to ``data_dir`` -> MD5 of that file (a ``.gz`` file
            by its own bytes; a path whose file exists only gzipped by the MD5 of the
            content). ``None``: nothing is checked.
        num_classes: number of classes; ``None`` infers it (the largest label plus
            one, or the data set's ``classes``).
        resize: ``(height, width)`` every image of an ``'image_folder'`` is resized to;
            ``None``: the images must all have one size (checked, naming the first file
            that differs).
        channels: channels of an ``'image_folder'``'s images: ``1`` converts every image
            to grayscale (PIL mode ``'L'``; e.g. MNIST-like PNGs for MNIST's 1-channel
            models), ``3`` to RGB. ``None``: RGB, as ``ImageFolder`` reads them, and the
            files must all have one mode (checked, naming the first file that differs).

    Attributes:
        image_shape: ``(channels, height, width)``, read from the data (this reads it).
        num_classes: number of classes (this reads the data unless given).

    Example:
        ```python
        import torch
        from anode_plugin.datasets import GenericImageDataModule

        images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)
        labels = torch.arange(40) % 4
        dm = GenericImageDataModule.from_tensors(
            images[:30], labels[:30], images[30:], labels[30:], batch_size=10
        )
        x, y = next(iter(dm.train_dataloader()))
        assert x.shape == (10, 1, 8, 8) and dm.num_classes == 4
        ```
    """

    name: ClassVar[str] = "images"

    def __init__(
        self,
        *,
        source: str = "idx",
        data_dir: str | os.PathLike[str] = "data",
        dataset: str | None = None,
        download: bool = False,
        batch_size: int = 256,
        num_workers: int = 0,
        train_subset: int | None = None,
        test_subset: int | None = None,
        val_split: float = 0.0,
        seed: int = 0,
        verify_checksums: bool = True,
        checksums: Mapping[str, str] | None = None,
        num_classes: int | None = None,
        resize: tuple[int, int] | None = None,
        channels: int | None = None,
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
            checksums=checksums,
        )
        self.source = check_choice("source", source, IMAGE_SOURCES)
        resize, channels = check_source_options(source, dataset, self.download, resize, channels)
        self.dataset = dataset
        self.name = "tensor images" if source == "tensors" else f"{dataset or source} images"
        self._num_classes = (
            None if num_classes is None else check_positive_int("num_classes", num_classes)
        )
        self._image_shape: tuple[int, int, int] | None = None
        self._tensors: tuple[Dataset, Dataset] | None = None
        self.resize, self.channels = resize, channels

    @classmethod
    def from_tensors(
        cls,
        train_images: Tensor,
        train_labels: Tensor,
        test_images: Tensor,
        test_labels: Tensor,
        **options: Any,
    ) -> GenericImageDataModule:
        """A DataModule serving images held in memory.

        Args:
            train_images: ``[n, c, h, w]``: ``uint8`` pixels (served divided by 255) or
                floats (served as they are).
            train_labels: ``[n]`` integer labels.
            test_images: ``[m, c, h, w]``, as ``train_images``.
            test_labels: ``[m]`` integer labels.
            **options: any other argument of the class but ``source``, ``data_dir``,
                ``dataset`` and ``download`` (e.g. ``batch_size``, ``val_split``).
        """
        refused = sorted({"source", "data_dir", "dataset", "download"} & set(options))
        if refused:
            raise ValueError(f"from_tensors takes no {refused}: the data are the tensors.")
        dm = cls(source="tensors", **options)
        dm._tensors = (
            tensor_set("train_images", train_images, "train_labels", train_labels),
            tensor_set("test_images", test_images, "test_labels", test_labels),
        )
        return dm

    # ------------------------------------------------------------------ properties
    @property  # type: ignore[override]
    def image_shape(self) -> tuple[int, int, int]:
        if self._image_shape is None:
            self.setup()
        return cast(tuple[int, int, int], self._image_shape)

    @property  # type: ignore[override]
    def num_classes(self) -> int:
        if self._num_classes is None:
            self.setup()
        return cast(int, self._num_classes)

    # ------------------------------------------------------------------ hooks
    def _remedy(self) -> str:
        if self.source == "torchvision":
            return super()._remedy()
        return f"Put the files under {self.data_dir} or correct `checksums`."

    def _download_files(self) -> None:
        for train in (True, False):
            self._torchvision_set(train, download=True)

    def _describe_file(self) -> Callable[[Path], str | None] | None:
        return describe_idx if self.source == "idx" else None

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        full_train = cast(Subset, self.train_set).dataset
        full_test = cast(Subset, self.test_set).dataset
        shapes = {tuple(ds[0][0].shape) for ds in (full_train, full_test) if len(ds)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(
                f"{self.name}: training and test images must be [c, h, w] of one size; got "
                f"{sorted(shapes)}."
            )
        self._image_shape = next(iter(shapes))  # type: ignore[assignment]
        if self._num_classes is None:
            self._num_classes = max(count_classes(full_train), count_classes(full_test))

    def _full_sets(self) -> tuple[Dataset, Dataset]:
        if self.source == "tensors":
            if self._tensors is None:
                raise ValueError(
                    "source='tensors' takes its images from "
                    "GenericImageDataModule.from_tensors(train_images, train_labels, "
                    "test_images, test_labels, ...), not from files."
                )
            return self._tensors
        if self.source == "idx":
            return idx_sets(self.data_dir)
        if self.source == "image_folder":
            return folder_sets(self.data_dir, self.resize, self.channels)
        return self._torchvision_set(True), self._torchvision_set(False)

    def _torchvision_set(self, train: bool, *, download: bool = False) -> Dataset:
        return torchvision_set(str(self.dataset), self.data_dir, train, download=download)
