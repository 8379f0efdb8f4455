"""Tiny ImageNet-200 (64x64 ImageNet, 200 classes) from its published archive.

The archive ``tiny-imagenet-200.zip`` is checked against its published MD5, then
extracted with ``val/`` reorganised from ``val_annotations.txt`` into one folder per
class, as ``train/`` is (``val/<wnid>/images/*.JPEG``). While extracting, the MD5 of
every file taken from the verified archive is written to a manifest, against which
every file is checked again before each run reads it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.datasets.utils import download_url
from torchvision.transforms.functional import pil_to_tensor

from ._checksums import CorruptFileError, MissingFileError, verify_files
from ._images import ImageDataModule

__all__ = [
    "TINY_IMAGENET_URL",
    "TinyImageNetDataModule",
    "TinyImageNetFolder",
    "extract_tiny_imagenet",
    "reorganise_tiny_imagenet_val",
]

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
_ARCHIVE = "tiny-imagenet-200.zip"
_FOLDER = "tiny-imagenet-200"
_MANIFEST = "MD5SUMS.anode"
_ANNOTATIONS = "val/val_annotations.txt"


def _parse_annotations(text: str) -> dict[str, str]:
    """``val_annotations.txt`` (``file<TAB>wnid<TAB>box...``) -> {file name: wnid}."""
    table = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            table[parts[0]] = parts[1]
    return table


def _target(rel: str, val_classes: dict[str, str]) -> str | None:
    """Where an archive member goes, relative to the data set folder; ``None`` to skip."""
    parts = rel.split("/")
    if rel in ("wnids.txt", _ANNOTATIONS):
        return rel
    if len(parts) == 4 and parts[0] == "train" and parts[2] == "images":
        return rel
    if len(parts) == 3 and parts[:2] == ["val", "images"]:
        wnid = val_classes.get(parts[2])
        if wnid is None:
            raise CorruptFileError(
                f"Tiny ImageNet: {parts[2]} has no line in {_ANNOTATIONS}; the archive is "
                "damaged. Delete it and download it again."
            )
        return f"val/{wnid}/images/{parts[2]}"
    return None  # test/ (unlabelled), bounding boxes, words.txt


def extract_tiny_imagenet(
    archive: str | os.PathLike[str], data_dir: str | os.PathLike[str]
) -> Path:
    """Extract the files a run reads from ``tiny-imagenet-200.zip`` into ``data_dir``.

    ``val/images`` is reorganised into ``val/<wnid>/images`` on the way, and the MD5 of
    each extracted file is written to ``tiny-imagenet-200/MD5SUMS.anode`` last, so an
    interrupted extraction leaves no manifest and is redone.

    Args:
        archive: path of the (already verified) archive.
        data_dir: folder that receives ``tiny-imagenet-200/``.

    Returns:
        The data set folder, ``data_dir/tiny-imagenet-200``.
    """
    root = Path(data_dir) / _FOLDER
    manifest: dict[str, str] = {}
    with zipfile.ZipFile(archive) as zf:
        prefix = f"{_FOLDER}/"
        try:
            annotations = zf.read(prefix + _ANNOTATIONS).decode()
        except KeyError as error:
            raise CorruptFileError(
                f"{archive} has no {prefix + _ANNOTATIONS}: it is not the Tiny ImageNet-200 "
                "archive. Delete it and download it again."
            ) from error
        val_classes = _parse_annotations(annotations)
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            target = _target(info.filename[len(prefix) :], val_classes)
            if target is None:
                continue
            data = zf.read(info)
            dest = root / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            manifest[target] = hashlib.md5(data, usedforsecurity=False).hexdigest()
    lines = "".join(f"{md5}  {rel}\n" for rel, md5 in sorted(manifest.items()))
    tmp = root / (_MANIFEST + ".tmp")
    tmp.write_text(lines)
    tmp.replace(root / _MANIFEST)
    return root


def reorganise_tiny_imagenet_val(root: str | os.PathLike[str]) -> None:
    """Move ``val/images/*.JPEG`` of an extracted archive to ``val/<wnid>/images/``.

    Uses ``val/val_annotations.txt``; does nothing when ``val/images`` is gone.

    Args:
        root: the ``tiny-imagenet-200`` folder.
    """
    root = Path(root)
    images = root / "val" / "images"
    if not images.is_dir():
        return
    val_classes = _parse_annotations((root / _ANNOTATIONS).read_text())
    for path in sorted(images.iterdir()):
        target = _target(f"val/images/{path.name}", val_classes)
        if target is not None:
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), root / target)
    images.rmdir()


def _read_manifest(path: Path) -> dict[str, str]:
    table = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        md5, _, rel = line.partition("  ")
        if len(md5) != 32 or not rel:
            raise CorruptFileError(
                f"{path} line {number} is damaged ({line!r}). Delete the folder {path.parent} "
                f"and set up the DataModule again to re-extract it from {_ARCHIVE}."
            )
        table[rel] = md5
    return table


class TinyImageNetFolder(Dataset):
    """One split of an extracted Tiny ImageNet-200: ``[3, 64, 64]`` images in ``[0, 1]``.

    Classes are the sorted wnids of ``wnids.txt``; grey images are repeated to 3
    channels.

    Args:
        root: the ``tiny-imagenet-200`` folder, with ``val/`` reorganised.
        split: ``'train'`` or ``'val'``.
    """

    def __init__(self, root: str | os.PathLike[str], split: str) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"`split` must be one of ['train', 'val'], got {split!r}.")
        root = Path(root)
        self.classes = sorted((root / "wnids.txt").read_text().split())
        self.samples: list[tuple[Path, int]] = []
        for index, wnid in enumerate(self.classes):
            folder = root / split / wnid / "images"
            if folder.is_dir():
                self.samples += [(p, index) for p in sorted(folder.glob("*.JPEG"))]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        path, label = self.samples[index]
        with Image.open(path) as image:
            pixels = pil_to_tensor(image.convert("RGB"))
        return pixels.float().div_(255.0), torch.tensor(label)


class TinyImageNetDataModule(ImageDataModule):
    """Tiny ImageNet-200 at 64x64: ``[3, 64, 64]`` in ``[0, 1]``, 200 classes.

    Reads ``<data_dir>/tiny-imagenet-200.zip`` (downloaded with ``download=True``),
    verifies it, extracts it once (see :func:`extract_tiny_imagenet`), and then checks
    every extracted file against the manifest before reading. The labelled ``val``
    split is the test set (``test/`` has no labels). See :class:`ImageDataModule` for
    the options.
    """

    name = "tiny-imagenet-200"
    image_shape = (3, 64, 64)
    num_classes = 200

    @property
    def root(self) -> Path:
        """The extracted data set folder."""
        return self.data_dir / _FOLDER

    def _remedy(self) -> str:
        return (
            f"Pass download=True or put {_ARCHIVE} (from {TINY_IMAGENET_URL}) in "
            f"{self.data_dir}; it is verified and extracted on first use."
        )

    def _download_files(self) -> None:
        if not (self.root / _MANIFEST).is_file() and not (self.data_dir / _ARCHIVE).is_file():
            download_url(TINY_IMAGENET_URL, str(self.data_dir), _ARCHIVE, md5=None)

    def _extract(self) -> None:
        archive = self.data_dir / _ARCHIVE
        if not archive.is_file():
            raise MissingFileError(
                f"{self.name}: neither {self.root / _MANIFEST} (an extraction made by this "
                f"DataModule) nor {archive} was found. {self._remedy()} An archive you "
                "extracted yourself cannot be checked against the published checksum; pass "
                "verify_checksums=False to read it unchecked."
            )
        verify_files(self.data_dir, self.checksums, dataset=self.name, remedy=self._remedy())
        extract_tiny_imagenet(archive, self.data_dir)

    def prepare_data(self) -> None:
        super().prepare_data()
        if (self.data_dir / _ARCHIVE).is_file() and not (self.root / _MANIFEST).is_file():
            self._extract()

    def verify(self) -> None:
        """Check every extracted file against the manifest written from the verified archive."""
        if not (self.root / _MANIFEST).is_file():
            self._extract()
        table = _read_manifest(self.root / _MANIFEST)
        remedy = (
            f"Delete {self.root} (or just the listed files) and set up the DataModule again: "
            f"it re-extracts from {self.data_dir / _ARCHIVE}, or downloads with download=True."
        )
        verify_files(self.root, table, dataset=self.name, remedy=remedy)

    def _full_sets(self) -> tuple[Dataset, Dataset]:
        if not (self.root / _MANIFEST).is_file() and (self.data_dir / _ARCHIVE).is_file():
            self._extract()
        if not self.verify_checksums:
            reorganise_tiny_imagenet_val(self.root)
        return TinyImageNetFolder(self.root, "train"), TinyImageNetFolder(self.root, "val")
