"""IDX files (the format of MNIST and its relatives), plain or gzipped.

An IDX file is a big-endian header ``0 0 <dtype code> <ndim>``, ``ndim`` 32-bit sizes,
then the array in C order. Images are ``[n, h, w]`` ``uint8`` (``idx3``), labels ``[n]``
(``idx1``).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from ._checksums import CorruptFileError

__all__ = ["IDX_ROLES", "describe_idx", "find_idx_files", "open_data_file", "read_idx"]

# dtype code -> big-endian numpy dtype
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# (split, kind) of the four files an IDX folder must hold.
IDX_ROLES = (("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels"))


def open_data_file(path: str | os.PathLike[str]):
    """Open ``path`` for reading bytes, decompressing it when its name ends in ``.gz``."""
    path = Path(path)
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` read compressed) into a native-endian array.

    Raises:
        CorruptFileError: the file is not a valid IDX file (bad magic, an unknown
            dtype code, or a size that disagrees with its header); the message says which.
    """
    path = Path(path)
    try:
        with open_data_file(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as error:  # a damaged gzip stream
        raise CorruptFileError(f"{path} cannot be read as an IDX file: {error}") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise CorruptFileError(
            f"{path} is not an IDX file: it does not start with the IDX magic (two zero bytes)."
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise CorruptFileError(
            f"{path} is not a valid IDX file: unknown dtype code {code:#04x} "
            f"(allowed: {', '.join(f'{c:#04x}' for c in _DTYPES)})."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptFileError(f"{path} is truncated: its IDX header is incomplete.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise CorruptFileError(
            f"{path} is truncated or damaged: its header announces shape {shape} "
            f"({expected} bytes) but it holds {len(data)} bytes."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def describe_idx(path: str | os.PathLike[str]) -> str | None:
    """``'a valid IDX file of shape (...) uint8'``, or ``None`` if ``path`` is not one."""
    try:
        array = read_idx(path)
    except CorruptFileError:
        return None
    return f"a valid IDX file of shape {tuple(array.shape)} {array.dtype}"


def _role(name: str) -> tuple[str, str] | None:
    stem = name.lower().removesuffix(".gz")
    if "idx3" in stem:
        kind = "images"
    elif "idx1" in stem:
        kind = "labels"
    else:
        return None
    if "train" in stem:
        return "train", kind
    if "test" in stem or "t10k" in stem:
        return "test", kind
    return None


def find_idx_files(folder: str | os.PathLike[str]) -> dict[tuple[str, str], Path]:
    """The four IDX files of ``folder``, by ``(split, kind)`` (see :data:`IDX_ROLES`).

    The naming rule: a file's name (case ignored) holds ``idx3`` for images or ``idx1``
    for labels, and ``train`` for the training split or ``test``/``t10k`` for the test
    split, as MNIST's ``train-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte.gz``
    do. A ``.gz`` suffix means gzipped; where both ``name`` and ``name.gz`` exist (as
    torchvision leaves them) the uncompressed one is read.

    Raises:
        FileNotFoundError: ``folder`` does not exist, or a role has no file.
        ValueError: a role has more than one file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"IDX folder {folder} does not exist.")
    found: dict[tuple[str, str], list[Path]] = {role: [] for role in IDX_ROLES}
    names = {p.name for p in folder.iterdir() if p.is_file()}
    for name in sorted(names):
        role = _role(name)
        if role is None or (name.endswith(".gz") and name.removesuffix(".gz") in names):
            continue
        found[role].append(folder / name)
    missing = [f"{split} {kind}" for (split, kind), paths in found.items() if not paths]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks IDX files for: {', '.join(missing)}. Expected four files "
            "whose names hold 'idx3' (images) or 'idx1' (labels) and 'train' or "
            "'test'/'t10k', optionally gzipped ('.gz'), e.g. train-images-idx3-ubyte.gz; "
            f"found: {sorted(names) or 'no files'}."
        )
    several = {f"{s} {k}": [p.name for p in v] for (s, k), v in found.items() if len(v) > 1}
    if several:
        raise ValueError(f"{folder} has more than one IDX file for a role: {several}.")
    return {role: paths[0] for role, paths in found.items()}
