"""Published checksums of the image data sets' files, and the check every DataModule runs.

A half-downloaded or damaged file must never reach a model as silent garbage: every
file a DataModule reads is hashed and compared with its published MD5 first.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from torchvision import datasets as tv_datasets

__all__ = [
    "CHECKSUMS",
    "TINY_IMAGENET_ZIP_MD5",
    "CorruptFileError",
    "MissingFileError",
    "UnexpectedDataFileError",
    "file_md5",
    "verify_files",
]


class CorruptFileError(OSError):
    """A data file's MD5 differs from its published one (damaged or truncated file)."""


class UnexpectedDataFileError(CorruptFileError):
    """A data file is valid in its format, but its MD5 says it is not the expected data set.

    A subclass of :class:`CorruptFileError` so that existing handlers still catch it;
    the remedy differs: not a new download, but ``verify_checksums=False`` (or its own
    ``checksums``) for a user's own data.
    """


class MissingFileError(FileNotFoundError):
    """A data file a DataModule needs is not on disk."""


# MD5 of the uncompressed IDX files (torchvision publishes only those of the .gz
# archives, which are not read once extracted); they are the ones published with
# the files and beside them in ../shared/data/MNIST/raw/MD5SUMS.
_MNIST_RAW = {
    "MNIST/raw/train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "MNIST/raw/train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "MNIST/raw/t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "MNIST/raw/t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

# The archive from http://cs231n.stanford.edu/tiny-imagenet-200.zip (248,100,043 bytes).
TINY_IMAGENET_ZIP_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"


def _cifar10() -> dict[str, str]:
    cls = tv_datasets.CIFAR10
    entries = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    return {f"{cls.base_folder}/{name}": md5 for name, md5 in entries}


def _svhn() -> dict[str, str]:
    return {
        f"SVHN/{name}": md5
        for split, (_, name, md5) in tv_datasets.SVHN.split_list.items()
        if split in ("train", "test")
    }


# Paths are relative to a DataModule's `data_dir`, laid out as torchvision lays them.
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": dict(_MNIST_RAW),
    "cifar10": _cifar10(),
    "svhn": _svhn(),
    "tiny-imagenet-200": {"tiny-imagenet-200.zip": TINY_IMAGENET_ZIP_MD5},
}


def file_md5(
    path: str | os.PathLike[str], *, chunk_size: int = 1 << 20, decompress: bool = False
) -> str:
    """The MD5 hex digest of a file, read in chunks.

    Args:
        path: the file.
        chunk_size: bytes read at a time.
        decompress: hash the content of a gzipped file rather than its bytes.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with gzip.open(path, "rb") if decompress else open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(
    root: str | os.PathLike[str],
    checksums: Mapping[str, str],
    *,
    dataset: str,
    remedy: str,
    describe: Callable[[Path], str | None] | None = None,
) -> None:
    """Check that every file of ``checksums`` exists under ``root`` with its MD5.

    A file ``rel`` that is absent but present gzipped (``rel.gz``) is checked by the
    MD5 of its decompressed content.

    Args:
        root: folder the relative paths of ``checksums`` start from.
        checksums: relative path -> expected MD5 hex digest.
        dataset: data set name, for the messages.
        remedy: how to get a good copy, appended to the messages.
        describe: says whether a file is valid in the data set's format: a description
            (``'a valid IDX file of shape (60000, 28, 28) uint8'``) or ``None``. Files
            whose MD5 differs but that are valid raise :class:`UnexpectedDataFileError`.

    Raises:
        MissingFileError: a file is absent (all absent files are listed).
        CorruptFileError: a file's MD5 differs and it is not valid in its format (all
            such files are listed).
        UnexpectedDataFileError: every file whose MD5 differs is valid in its format:
            another data set, not a damaged copy.
    """
    root = Path(root)

    def located(rel: str) -> tuple[Path, bool]:
        path = root / rel
        gz = path.with_name(path.name + ".gz")
        return (gz, True) if not path.is_file() and gz.is_file() else (path, False)

    missing = [root / rel for rel in checksums if not located(rel)[0].is_file()]
    if missing:
        listed = "\n  ".join(str(p) for p in missing)
        raise MissingFileError(
            f"{dataset}: {len(missing)} file(s) not found:\n  {listed}\n{remedy}"
        )
    bad, valid = [], []
    for rel, expected in checksums.items():
        path, compressed = located(rel)
        actual = file_md5(path, decompress=compressed)
        if actual == expected.lower():
            continue
        what = describe(path) if describe is not None else None
        size = f"{path} ({path.stat().st_size} bytes): MD5 {actual}"
        if what is None:
            bad.append(f"{size}, published MD5 {expected}")
        else:
            valid.append(f"{size}, expected MD5 {expected}; it is {what}")
    if valid and not bad:
        listed = "\n  ".join(valid)
        raise UnexpectedDataFileError(
            f"{dataset}: {len(valid)} file(s) are valid but are not the expected data set "
            f"(their MD5 differs from the expected one):\n  {listed}\nThey are not "
            "damaged: downloading again will not help. To use your own data, pass "
            "verify_checksums=False (anode-images: --verify_checksums false) or give the "
            "files' own MD5s in `checksums`; for arbitrary IDX files, see "
            "GenericImageDataModule(source='idx')."
        )
    if bad:
        listed = "\n  ".join(bad)
        raise CorruptFileError(
            f"{dataset}: {len(bad)} file(s) are corrupt or truncated (checksum mismatch):\n"
            f"  {listed}\nDelete {'it' if len(bad) == 1 else 'them'} and download again. {remedy}"
        )
