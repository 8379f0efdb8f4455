"""The readers of ``GenericImageDataModule``'s sources: IDX files, image folders, a
torchvision data set by name, tensors in memory; each checks what it reads."""

from __future__ import annotations

import inspect
import numbers
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset
from torchvision import datasets as tv_datasets
from torchvision.transforms import Compose, Resize, ToTensor

from .._validation import check_positive_int
from ._idx import find_idx_files, read_idx
from ._images import UInt8ImageDataset

__all__ = [
    "check_image_channels",
    "check_source_options",
    "count_classes",
    "folder_sets",
    "idx_sets",
    "tensor_set",
    "torchvision_set",
]

# `channels` of an image folder -> the PIL mode every image is converted to.
_FOLDER_MODES: dict[int, str] = {1: "L", 3: "RGB"}


def idx_sets(data_dir: Path) -> tuple[Dataset, Dataset]:
    """The training and test sets of four IDX files under ``data_dir``."""
    files = find_idx_files(data_dir)
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
        sets.append(UInt8ImageDataset.from_idx(images, labels))
    return sets[0], sets[1]


def folder_sets(
    data_dir: Path, resize: tuple[int, int] | None, channels: int | None
) -> tuple[Dataset, Dataset]:
    """The training and test sets of ``data_dir``'s ``train/`` and ``test/`` class folders,
    each image checked, resized to ``resize`` and converted to ``channels`` if given."""
    sets = []
    for split in ("train", "test"):
        folder = data_dir / split
        if not folder.is_dir():
            raise FileNotFoundError(
                f"source='image_folder' reads {folder}, which does not exist: `data_dir` "
                "must hold train/ and test/, each with one subfolder of images per class."
            )
        transform = ToTensor() if resize is None else Compose([Resize(resize), ToTensor()])
        # ImageFolder's own loader converts to RGB; a partial of a module function,
        # not a lambda, so that loader workers started by spawn can pickle it.
        options = (
            {}
            if channels is None
            else {"loader": partial(_load_image, mode=_FOLDER_MODES[channels])}
        )
        sets.append(tv_datasets.ImageFolder(str(folder), transform=transform, **options))
    _check_folder_images(sets, resized=resize is not None, converted=channels is not None)
    if sets[0].classes != sets[1].classes:
        raise ValueError(
            f"{data_dir}: train/ and test/ must have the same class folders; got "
            f"{sets[0].classes} and {sets[1].classes}."
        )
    return sets[0], sets[1]


def torchvision_set(
    dataset: str, data_dir: Path, train: bool, *, download: bool = False
) -> Dataset:
    """The training or test split of the torchvision data set class named ``dataset``."""
    cls = getattr(tv_datasets, dataset)
    params = inspect.signature(cls).parameters
    if "train" in params:
        split: dict[str, Any] = {"train": train}
    elif "split" in params:
        split = {"split": "train" if train else "test"}
    else:
        raise ValueError(
            f"`dataset`={dataset!r} has neither a `train` nor a `split` argument: "
            "GenericImageDataModule cannot pick its training and test splits."
        )
    return cls(str(data_dir), transform=ToTensor(), download=download, **split)


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


def tensor_set(name: str, images: Tensor, labels_name: str, labels: Tensor) -> Dataset:
    """A data set of images ``[n, c, h, w]`` (``uint8`` or floats) and labels ``[n]``, checked."""
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


def count_classes(dataset: Dataset) -> int:
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


def _torchvision_names() -> list[str]:
    return sorted(
        name
        for name, obj in vars(tv_datasets).items()
        if inspect.isclass(obj) and issubclass(obj, Dataset) and not name.startswith("_")
    )


def check_source_options(
    source: str, dataset: str | None, download: bool, resize: Any, channels: object
) -> tuple[tuple[int, int] | None, int | None]:
    """Check the options that belong to one source; returns ``(resize, channels)``."""
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
    if download and source != "torchvision":
        raise ValueError(
            f"`download`=True needs source='torchvision'; source={source!r} reads local files only."
        )
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
    checked = check_image_channels("channels", channels)
    if checked is not None and source != "image_folder":
        raise ValueError(
            f"`channels` applies to source='image_folder' only, got source={source!r}."
        )
    return resize, checked
