"""The data of an image run: the set-up's own files or one's own, and their name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...datasets import IMAGE_SOURCES, GenericImageDataModule, ImageDataModule
from ._setups import IMAGE_SETUPS, ImageSetup

__all__ = ["check_own_data", "data_name", "datamodule_factory", "first_test_images"]


def datamodule_factory(
    setup: ImageSetup,
    data_source: str | None,
    torchvision_dataset: str | None,
    channels: int | None = None,
) -> Callable[..., ImageDataModule]:
    """The set-up's own DataModule, or a GenericImageDataModule reading ``data_source``
    (an image folder with ``channels``, see ``GenericImageDataModule``)."""
    if data_source is None:  # a `torchvision_dataset` alone is refused by the config
        return setup.datamodule
    sources = [s for s in IMAGE_SOURCES if s != "tensors"]
    if data_source not in sources:
        raise ValueError(f"`data_source` must be None or one of {sources}, got {data_source!r}.")

    def make(**kwargs: Any) -> ImageDataModule:
        return GenericImageDataModule(
            source=data_source, dataset=torchvision_dataset, channels=channels, **kwargs
        )

    return make


def data_name(
    dataset: str,
    name: str | None,
    data_source: str | None,
    torchvision_dataset: str | None,
    data_dir: str,
) -> str:
    """What the data of a run is called (see ``ImageBenchmarkConfig.name``)."""
    if name is not None:
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\"):
            raise ValueError(
                f"`name` must be a non-empty name without path separators, got {name!r}."
            )
        if data_source is not None and name in IMAGE_SETUPS:
            raise ValueError(
                f"`name`={name!r} is a data set of the paper; one's own data "
                f"(data_source={data_source!r}) needs a name of its own."
            )
        return name
    if data_source is None:
        return dataset
    own = torchvision_dataset or Path(data_dir).resolve().name or data_source
    own = own.lower()
    # A folder named like a paper data set (data/mnist with other IDX files in it):
    # say whose models it ran with, so that it is not read as the paper's data.
    return f"{own}-own" if own in IMAGE_SETUPS else own


def check_own_data(setup: ImageSetup, dataset: str, dm: ImageDataModule) -> None:
    """Refuse, before any training, data the set-up's models cannot take."""
    expected = (setup.datamodule.image_shape, setup.datamodule.num_classes)
    if (dm.image_shape, dm.num_classes) != expected:
        raise ValueError(
            f"--dataset {dataset} trains models for {expected[1]} classes of images "
            f"{list(expected[0])}, but {dm.name} in {dm.data_dir} has {dm.num_classes} "
            f"classes of images {list(dm.image_shape)}: pick the set-up (`dataset`) that "
            "matches the data."
        )


def first_test_images(dm: ImageDataModule, n: int) -> Tensor:
    """The first ``n`` images of the test set (fewer if it is smaller): ``[n, C, H, W]``."""
    batches, count = [], 0
    for x, _ in dm.test_dataloader():
        batches.append(x)
        count += len(x)
        if count >= n:
            break
    return torch.cat(batches)[:n]
