"""Small stand-ins of the image data sets, written in their real on-disk formats.

Each writer returns ``(data_dir, checksums)``: the folder to give the DataModule and
the MD5 of every file written, to inject in place of the published table.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat

from anode_plugin.datasets import file_md5

TRAIN, TEST = 24, 12
CIFAR_PER_BATCH = 5  # five training batches: 25 images


def _pixels(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _labels(n: int, classes: int = 10) -> np.ndarray:
    return (np.arange(n) % classes).astype(np.uint8)


def _table(root: Path, paths: list[Path]) -> dict[str, str]:
    return {str(p.relative_to(root)): file_md5(p) for p in paths}


def write_mnist(root: Path, seed: int = 0) -> tuple[Path, dict[str, str]]:
    """IDX files (big-endian magic 2051 for images, 2049 for labels) in ``MNIST/raw``."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    paths = []
    for prefix, n in (("train", TRAIN), ("t10k", TEST)):
        images = raw / f"{prefix}-images-idx3-ubyte"
        images.write_bytes(
            struct.pack(">IIII", 2051, n, 28, 28) + _pixels(rng, n, 28, 28).tobytes()
        )
        labels = raw / f"{prefix}-labels-idx1-ubyte"
        labels.write_bytes(struct.pack(">II", 2049, n) + _labels(n).tobytes())
        paths += [images, labels]
    return root, _table(root, paths)


def write_cifar10(root: Path, seed: int = 0) -> tuple[Path, dict[str, str]]:
    """Pickled batches ``data_batch_1..5`` (5 images each), ``test_batch``, ``batches.meta``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    paths = []
    names = [(f"data_batch_{i}", CIFAR_PER_BATCH) for i in range(1, 6)]
    for name, n in [*names, ("test_batch", TEST)]:
        entry = {"data": _pixels(rng, n, 3072), "labels": _labels(n).tolist(), "batch_label": name}
        path = folder / name
        path.write_bytes(pickle.dumps(entry))
        paths.append(path)
    meta = folder / "batches.meta"
    meta.write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    return root, _table(root, [*paths, meta])


def write_svhn(root: Path, seed: int = 0) -> tuple[Path, dict[str, str]]:
    """MATLAB files with ``X`` ``[32, 32, 3, n]`` and ``y`` ``[n, 1]`` (10 means digit 0)."""
    rng = np.random.default_rng(seed)
    folder = root / "SVHN"
    folder.mkdir(parents=True)
    paths = []
    for split, n in (("train", TRAIN), ("test", TEST)):
        digits = np.arange(n) % 10
        y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]
        path = folder / f"{split}_32x32.mat"
        savemat(str(path), {"X": _pixels(rng, 32, 32, 3, n), "y": y})
        paths.append(path)
    return root, _table(root, paths)


TINY_WNIDS = ("n01443537", "n01629819", "n01641577")


def write_tiny_imagenet_zip(root: Path, seed: int = 0) -> tuple[Path, dict[str, str]]:
    """``tiny-imagenet-200.zip`` with the real layout: ``train/<wnid>/images``,
    ``val/images`` + ``val/val_annotations.txt``, ``test/images``, ``wnids.txt``.

    Training image ``i`` of class ``k`` has constant value ``10 * k + i``; validation
    image ``val_j`` is of class ``j % 3`` and has constant value ``200 + j``; the first
    training image of the last class is grey (mode ``L``).
    """
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "tiny-imagenet-200.zip"
    top = "tiny-imagenet-200"

    def jpeg(value: int, mode: str = "RGB") -> bytes:
        import io

        buffer = io.BytesIO()
        Image.new(mode, (64, 64), value if mode == "L" else (value,) * 3).save(
            buffer, "JPEG", quality=100
        )
        return buffer.getvalue()

    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{top}/wnids.txt", "\n".join(TINY_WNIDS) + "\n")
        zf.writestr(f"{top}/words.txt", "".join(f"{w}\tthing\n" for w in TINY_WNIDS))
        for k, wnid in enumerate(TINY_WNIDS):
            zf.writestr(f"{top}/train/{wnid}/{wnid}_boxes.txt", "")
            for i in range(4):
                mode = "L" if (k, i) == (2, 0) else "RGB"
                zf.writestr(f"{top}/train/{wnid}/images/{wnid}_{i}.JPEG", jpeg(10 * k + i, mode))
        lines = []
        for j in range(6):
            zf.writestr(f"{top}/val/images/val_{j}.JPEG", jpeg(200 + j))
            lines.append(f"val_{j}.JPEG\t{TINY_WNIDS[j % 3]}\t0\t0\t63\t63\n")
        zf.writestr(f"{top}/val/val_annotations.txt", "".join(lines))
        zf.writestr(f"{top}/test/images/test_0.JPEG", jpeg(7))
    return root, {"tiny-imagenet-200.zip": file_md5(archive)}


IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def write_idx_folder(
    folder: Path,
    *,
    n_train: int = 48,
    n_test: int = 16,
    size: int = 8,
    gz: bool = True,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Four MNIST-style IDX files (``.gz`` unless ``gz=False``) of random ``size``x``size``
    images with labels ``0..9`` in turn; returns ``{split: (images, labels)}``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        arrays[split] = images, labels
        for kind, header, data in (
            ("images", struct.pack(">IIII", 0x0803, n, size, size), images),
            ("labels", struct.pack(">II", 0x0801, n), labels),
        ):
            name = IDX_NAMES[split, kind] + (".gz" if gz else "")
            opener = gzip.open if gz else open
            with opener(folder / name, "wb") as handle:
                handle.write(header + data.tobytes())
    return arrays
