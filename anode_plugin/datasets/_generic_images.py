"""One DataModule for a user's own images: IDX files, an image folder, a torchvision
data set by name, or tensors in memory."""

from __future__ import annotations

import inspect
import numbers
import os
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, cast

import numpy as np
import PIL.Image
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset
from torchvision import datasets as tv_datasets
from torchvision.transforms import Compose, Resize, ToTensor

from .._validation import check_choice, check_positive_int
from ._checksums import verify_files
from ._idx import describe_idx, find_idx_files, read_idx
from ._images import ImageDataModule, UInt8ImageDataset

__all__ = ["IMAGE_SOURCES", "GenericImageDataModule"]

# source -> what `data_dir` holds for it.
IMAGE_SOURCES: dict[str, str] = {
    "idx": "four IDX files (plain or .gz), named as find_idx_files describes",
    "image_folder": "train/ and test/ folders, one subfolder of images per class",
    "torchvision": "the files of the torchvision data set named by `dataset`",
    "tensors": "nothing: the images are given to GenericImageDataModule.from_tensors",
}

# `channels` of an image folder -> the PIL mode every image is converted to.
_FOLDER_MODES: dict[int, str] = {1: "L", 3: "RGB"}


def _torchvision_names() -> list[str]:
    return sorted(
        name
        for name, obj in vars(tv_datasets).items()
        if inspect.isclass(obj) and issubclass(obj, Dataset) and not name.startswith("_")
    )


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
        if source == "torchvision":
            names = _torchvision_names()
            if dataset not in names:
                raise ValueError(
                    "`dataset` must name a torchvision data set class with "
                    f"source='torchvision', one of {names}; got {dataset!r}."
                )
        elif dataset is not None:
            raise ValueError(
                f"`dataset` names a torchvision class and needs source='torchvision'; got "
                f"dataset={dataset!r} with source={source!r}."
            )
        if self.download and source != "torchvision":
            raise ValueError(
                f"`download`=True needs source='torchvision'; source={source!r} reads local "
                "files only."
            )
        self.dataset = dataset
        self.name = "tensor images" if source == "tensors" else f"{dataset or source} images"
        self._num_classes = (
            None if num_classes is None else check_positive_int("num_classes", num_classes)
        )
        self._image_shape: tuple[int, int, int] | None = None
        self._tensors: tuple[Dataset, Dataset] | None = None
        if resize is not None:
            if source != "image_folder":
                raise ValueError(
                    f"`resize` applies to source='image_folder' only, got source={source!r}."
                )
            if not (isinstance(resize, (tuple, list)) and len(resize) == 2):
                raise ValueError(f"`resize` must be (height, width) or None, got {resize!r}.")
            resize = (
                check_positive_int("resize[0]", resize[0]),
                check_positive_int("resize[1]", resize[1]),
            )
        self.resize = resize
        self.channels = check_image_channels("channels", channels)
        if self.channels is not None and source != "image_folder":
            raise ValueError(
                f"`channels` applies to source='image_folder' only, got source={source!r}."
            )

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
            _tensor_set("train_images", train_images, "train_labels", train_labels),
            _tensor_set("test_images", test_images, "test_labels", test_labels),
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

    def verify(self) -> None:
        if self.checksums:
            verify_files(
                self.data_dir,
                self.checksums,
                dataset=self.name,
                remedy=self._remedy(),
                describe=describe_idx if self.source == "idx" else None,
            )

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
            self._num_classes = max(_count_classes(full_train), _count_classes(full_test))

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
            return self._idx_sets()
        if self.source == "image_folder":
            return self._folder_sets()
        return self._torchvision_set(True), self._torchvision_set(False)

    # ------------------------------------------------------------------ readers
    def _idx_sets(self) -> tuple[Dataset, Dataset]:
        files = find_idx_files(self.data_dir)
        sets = []
        for split in ("train", "test"):
            images_path, labels_path = files[split, "images"], files[split, "labels"]
            images, labels = read_idx(images_path), read_idx(labels_path)
            if images.ndim != 3 or images.dtype != np.uint8:
                raise ValueError(
                    f"{images_path} is a valid IDX file but not of images: expected "
                    f"[n, h, w] uint8, got {images.dtype} of shape {images.shape}."
                )
            if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
                raise ValueError(
                    f"{labels_path} holds labels of shape {labels.shape}, but {images_path} "
                    f"holds {images.shape[0]} images: expected [{images.shape[0]}]."
                )
            if not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"{labels_path} holds {labels.dtype} labels, not integers.")
            sets.append(
                UInt8ImageDataset(
                    torch.from_numpy(images).unsqueeze(1).contiguous(),
                    torch.from_numpy(labels.astype(np.int64)),
                )
            )
        return sets[0], sets[1]

    def _folder_sets(self) -> tuple[Dataset, Dataset]:
        sets = []
        for split in ("train", "test"):
            folder = self.data_dir / split
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"source='image_folder' reads {folder}, which does not exist: `data_dir` "
                    "must hold train/ and test/, each with one subfolder of images per class."
                )
            transform = (
                ToTensor() if self.resize is None else Compose([Resize(self.resize), ToTensor()])
            )
            # ImageFolder's own loader converts to RGB; a partial of a module function,
            # not a lambda, so that loader workers started by spawn can pickle it.
            options = (
                {}
                if self.channels is None
                else {"loader": partial(_load_image, mode=_FOLDER_MODES[self.channels])}
            )
            sets.append(tv_datasets.ImageFolder(str(folder), transform=transform, **options))
        _check_folder_images(
            sets, resized=self.resize is not None, converted=self.channels is not None
        )
        if sets[0].classes != sets[1].classes:
            raise ValueError(
                f"{self.data_dir}: train/ and test/ must have the same class folders; got "
                f"{sets[0].classes} and {sets[1].classes}."
            )
        return sets[0], sets[1]

    def _torchvision_set(self, train: bool, *, download: bool = False) -> Dataset:
        cls = getattr(tv_datasets, str(self.dataset))
        params = inspect.signature(cls).parameters
        if "train" in params:
            split: dict[str, Any] = {"train": train}
        elif "split" in params:
            split = {"split": "train" if train else "test"}
        else:
            raise ValueError(
                f"`dataset`={self.dataset!r} has neither a `train` nor a `split` argument: "
                "GenericImageDataModule cannot pick its training and test splits."
            )
        return cls(str(self.data_dir), transform=ToTensor(), download=download, **split)


def check_image_channels(name: str, value: object) -> int | None:
    """``value`` if it is ``None``, ``1`` or ``3`` (the channels an image folder is read
    with); else raise ``ValueError`` naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value not in (1, 3):
        raise ValueError(
            f"`{name}` must be None (as the files are read: RGB), 1 (grayscale) or 3 (RGB), "
            f"got {value!r}."
        )
    return int(value)


def _load_image(path: str, mode: str) -> PIL.Image.Image:
    """The image at ``path`` in PIL mode ``mode``, as ImageFolder's loader (RGB only)."""
    with open(path, "rb") as handle:
        return PIL.Image.open(handle).convert(mode)


def _check_folder_images(sets: list[Any], *, resized: bool, converted: bool) -> None:
    """Every file of the image folders decodes, and (unless resized) all have one size and
    (unless converted to one mode) one number of channels: a bad file is named here, not
    met later inside a loader."""
    first: tuple[str, tuple[int, int], int] | None = None
    for dataset in sets:
        for path, _ in dataset.samples:
            try:
                with PIL.Image.open(path) as image:
                    size, channels = image.size, len(image.getbands())
            except (PIL.UnidentifiedImageError, OSError) as error:
                raise ValueError(
                    f"{path} is not an image that PIL can read ({error}); remove it from the "
                    "image folder, or convert it to PNG or JPEG."
                ) from None
            if first is None:
                first = (path, size, channels)
                continue
            if not resized and size != first[1]:
                raise ValueError(
                    f"{path} is {size[0]}x{size[1]} (width x height) but {first[0]} is "
                    f"{first[1][0]}x{first[1][1]}: the images of one data set must have one "
                    "size; resize them, or pass `resize=(height, width)`."
                )
            if not converted and channels != first[2]:
                raise ValueError(
                    f"{path} has {channels} channel(s) but {first[0]} has {first[2]}: convert "
                    "the images to one mode (all RGB or all grayscale), or pass `channels=1` "
                    "(grayscale) or `channels=3` (RGB)."
                )


def _tensor_set(name: str, images: Tensor, labels_name: str, labels: Tensor) -> Dataset:
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(
            f"`{name}` must be a tensor [n, c, h, w], got "
            f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}."
        )
    if not isinstance(labels, Tensor) or labels.shape != (images.shape[0],):
        got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"`{labels_name}` must have shape [{images.shape[0]}], got {got}.")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"`{labels_name}` must hold integer labels, got {labels.dtype}.")
    if images.dtype == torch.uint8:
        return UInt8ImageDataset(images, labels)
    if not images.is_floating_point():
        raise ValueError(f"`{name}` must be uint8 or floating point, got {images.dtype}.")
    return TensorDataset(images, labels.long())


def _count_classes(dataset: Dataset) -> int:
    """Classes of a data set: its ``classes``, else its largest label plus one."""
    classes = getattr(dataset, "classes", None)
    if classes is not None:
        return len(classes)
    if isinstance(dataset, UInt8ImageDataset):
        labels = dataset.labels
    elif isinstance(dataset, TensorDataset):
        labels = dataset.tensors[1]
    else:
        labels = torch.as_tensor(getattr(dataset, "targets", [int(y) for _, y in dataset]))
    return int(labels.max()) + 1 if len(labels) else 0
