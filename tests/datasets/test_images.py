"""Image DataModules on stand-in files in the real formats; checksum verification."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from anode_plugin.datasets import (
    CHECKSUMS,
    CIFAR10DataModule,
    CorruptFileError,
    DigitsDataModule,
    MissingFileError,
    MNISTDataModule,
    SVHNDataModule,
    TinyImageNetDataModule,
)
from tests.image_standins import (
    CIFAR_PER_BATCH,
    TEST,
    TINY_WNIDS,
    TRAIN,
    write_cifar10,
    write_mnist,
    write_svhn,
    write_tiny_imagenet_zip,
)

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data"

TORCHVISION_SETS = {
    "mnist": (MNISTDataModule, write_mnist, TRAIN),
    "cifar10": (CIFAR10DataModule, write_cifar10, 5 * CIFAR_PER_BATCH),
    "svhn": (SVHNDataModule, write_svhn, TRAIN),
}


@pytest.fixture(params=sorted(TORCHVISION_SETS))
def standin(request, tmp_path):
    cls, writer, num_train = TORCHVISION_SETS[request.param]
    root, checksums = writer(tmp_path)
    return cls, root, checksums, num_train


def _all(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_standin_shapes_ranges_and_sizes(standin):
    cls, root, checksums, num_train = standin
    dm = cls(data_dir=root, checksums=checksums, batch_size=8)
    dm.setup("fit")
    x, y = _all(dm.train_dataloader())
    assert x.shape == (num_train, *cls.image_shape)
    assert x.dtype == torch.float32 and x.min() >= 0.0 and x.max() <= 1.0
    # ToTensor of uint8 pixels: every value is k / 255.
    assert torch.allclose(x * 255, (x * 255).round(), atol=1e-4)
    assert y.dtype == torch.long and set(y.tolist()) <= set(range(10))
    xt, yt = _all(dm.test_dataloader())
    assert xt.shape[0] == TEST
    # The stand-ins' labels cycle 0..9 in file order (SVHN's label 10 is digit 0).
    assert sorted(yt.tolist()) == sorted(i % 10 for i in range(TEST))
    assert dm.val_dataloader() == []


def test_subsets_and_validation_split_are_disjoint_and_seeded(standin):
    cls, root, checksums, num_train = standin
    kwargs = {"data_dir": root, "checksums": checksums, "val_split": 0.25, "seed": 3}
    dm = cls(train_subset=6, test_subset=5, **kwargs)
    dm.setup()
    assert len(dm.train_set) == 6 and len(dm.test_set) == 5
    assert len(dm.val_set) == round(0.25 * num_train)
    assert not set(dm.train_set.indices) & set(dm.val_set.indices)
    again = cls(train_subset=6, test_subset=5, **kwargs)
    again.setup()
    assert again.train_set.indices == dm.train_set.indices
    with pytest.raises(ValueError, match="train_subset"):
        cls(train_subset=10_000, **kwargs).setup()


def test_corrupt_file_names_the_file_and_the_fix(standin):
    cls, root, checksums, _ = standin
    rel = sorted(checksums)[0]
    path = root / rel
    path.write_bytes(path.read_bytes()[:-7])  # truncated download
    with pytest.raises(CorruptFileError, match="download again") as info:
        cls(data_dir=root, checksums=checksums).setup()
    assert str(path) in str(info.value) and "Delete it" in str(info.value)


def test_missing_file_names_the_file_and_download(standin):
    cls, root, checksums, _ = standin
    rel = sorted(checksums)[-1]
    (root / rel).unlink()
    with pytest.raises(MissingFileError, match="download=True") as info:
        cls(data_dir=root, checksums=checksums).setup()
    assert str(root / rel) in str(info.value)


def test_published_checksums_are_used_by_default(standin):
    cls, root, _, _ = standin
    dm = cls(data_dir=root)
    assert dm.checksums == CHECKSUMS[cls.name]
    # Stand-in IDX files are valid, only not MNIST: no "download again" for them.
    match = "not the expected data set" if cls is MNISTDataModule else "published MD5"
    with pytest.raises(CorruptFileError, match=match) as info:
        dm.setup()
    assert (cls is MNISTDataModule) == ("download again" not in str(info.value))
    # Unchecked reading is possible, on request.
    unchecked = cls(data_dir=root, verify_checksums=False)
    unchecked.setup()
    assert len(unchecked.test_set) == TEST


def test_published_tables_name_every_file_read():
    assert len(CHECKSUMS["mnist"]) == 4
    assert len(CHECKSUMS["cifar10"]) == 7  # five training batches, test batch, meta
    assert set(CHECKSUMS["svhn"]) == {"SVHN/train_32x32.mat", "SVHN/test_32x32.mat"}
    assert CHECKSUMS["cifar10"]["cifar-10-batches-py/test_batch"] == (
        "40351d587109b95175f43aff81a1287e"
    )


def test_mnist_pixels_match_the_idx_file(tmp_path):
    root, checksums = write_mnist(tmp_path)
    raw = (root / "MNIST/raw/t10k-images-idx3-ubyte").read_bytes()
    _magic, n, h, w = struct.unpack(">IIII", raw[:16])
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, h, w)
    dm = MNISTDataModule(data_dir=root, checksums=checksums, batch_size=TEST)
    dm.setup()
    x, _ = next(iter(dm.test_dataloader()))
    assert torch.equal((x[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(pixels.copy()))


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the shared MNIST copy is not on disk")
def test_shared_mnist_passes_the_published_checksums():
    dm = MNISTDataModule(data_dir=SHARED_MNIST, train_subset=64, test_subset=32, batch_size=64)
    dm.setup()
    x, _y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 1, 28, 28) and x.min() >= 0.0 and x.max() <= 1.0
    assert len(dm.test_set) == 32


# ---------------------------------------------------------------------- Tiny ImageNet
def test_tiny_imagenet_extracts_and_reorganises_val(tmp_path):
    root, checksums = write_tiny_imagenet_zip(tmp_path)
    dm = TinyImageNetDataModule(data_dir=root, checksums=checksums, batch_size=64)
    dm.prepare_data()
    folder = root / "tiny-imagenet-200"
    assert not (folder / "val" / "images").exists()
    for j in range(6):
        assert (folder / "val" / TINY_WNIDS[j % 3] / "images" / f"val_{j}.JPEG").is_file()
    assert not (folder / "test").exists()  # unlabelled: not extracted
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (12, 3, 64, 64)  # grey images are repeated to three channels
    xt, yt = next(iter(dm.test_dataloader()))
    assert xt.shape == (6, 3, 64, 64)
    # val_j is of class j % 3 and has constant value 200 + j (JPEG: within a few levels).
    for image, label in zip(xt, yt, strict=True):
        j = round(float(image.mean()) * 255) - 200
        assert int(label) == j % 3
    assert sorted(y.tolist()) == sorted([0] * 4 + [1] * 4 + [2] * 4)


def test_tiny_imagenet_corrupt_extracted_file(tmp_path):
    root, checksums = write_tiny_imagenet_zip(tmp_path)
    TinyImageNetDataModule(data_dir=root, checksums=checksums).setup()
    victim = (
        root
        / "tiny-imagenet-200"
        / "train"
        / TINY_WNIDS[1]
        / "images"
        / (f"{TINY_WNIDS[1]}_2.JPEG")
    )
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="Delete") as info:
        TinyImageNetDataModule(data_dir=root, checksums=checksums).setup()
    assert str(victim) in str(info.value)


def test_tiny_imagenet_corrupt_archive_and_missing_archive(tmp_path):
    root, checksums = write_tiny_imagenet_zip(tmp_path / "a")
    archive = root / "tiny-imagenet-200.zip"
    archive.write_bytes(archive.read_bytes()[:-10])
    with pytest.raises(CorruptFileError, match=r"tiny-imagenet-200\.zip"):
        TinyImageNetDataModule(data_dir=root, checksums=checksums).setup()
    with pytest.raises(MissingFileError, match="download=True"):
        TinyImageNetDataModule(data_dir=tmp_path / "empty").setup()


def test_tiny_imagenet_default_checksum_refuses_a_standin(tmp_path):
    root, _ = write_tiny_imagenet_zip(tmp_path)
    with pytest.raises(CorruptFileError, match="90528d7ca1a48142e341f4ef8d21d0de"):
        TinyImageNetDataModule(data_dir=root).setup()


# ---------------------------------------------------------------------- digits
def test_digits_offline_shapes_scale_and_stratified_split():
    dm = DigitsDataModule(batch_size=2000)
    dm.setup()
    x, _y = next(iter(dm.train_dataloader()))
    xt, yt = next(iter(dm.test_dataloader()))
    assert x.shape[1:] == (1, 8, 8) and x.shape[0] + xt.shape[0] == 1797
    assert x.min() == 0.0 and x.max() == 1.0
    # Every value is a count of 0-16 pixels divided by 16.
    assert torch.equal(x * 16, (x * 16).round())
    assert abs(xt.shape[0] - 0.2 * 1797) < 10
    assert torch.bincount(yt, minlength=10).min() >= 30


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_split": 1.0}, "val_split"),
        ({"val_split": -0.1}, "val_split"),
        ({"batch_size": 0}, "batch_size"),
        ({"train_subset": 0}, "train_subset"),
        ({"num_workers": -1}, "num_workers"),
        ({"test_fraction": 1.5}, "test_fraction"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DigitsDataModule(**kwargs)


def test_subsets_larger_than_their_split_are_refused(standin):
    cls, root, checksums, _ = standin
    for subset, match in (
        ({"train_subset": 10_000}, r"`train_subset`=10000 exceeds the"),
        ({"test_subset": 10_000}, r"`test_subset`=10000 exceeds the"),
    ):
        dm = cls(data_dir=root, checksums=checksums, **subset)
        with pytest.raises(ValueError, match=match):
            dm.setup("fit")
