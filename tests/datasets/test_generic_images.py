"""GenericImageDataModule: IDX folders (plain or gzipped), image folders, torchvision
classes by name and tensors; checksums; `anode fit` on a folder of gzipped IDX files."""

from __future__ import annotations

import csv
import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from anode_plugin.datasets import (
    CorruptFileError,
    GenericImageDataModule,
    MNISTDataModule,
    UnexpectedDataFileError,
    file_md5,
    find_idx_files,
    read_idx,
)
from anode_plugin.lightning._cli import main
from tests.image_standins import IDX_NAMES as NAMES
from tests.image_standins import TEST, TRAIN, write_idx_folder, write_mnist


def _all(loader):
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


# ---------------------------------------------------------------- IDX folders
@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_serves_the_files_pixels(tmp_path, gz):
    arrays = write_idx_folder(tmp_path / "idx", gz=gz)
    dm = GenericImageDataModule(data_dir=tmp_path / "idx", batch_size=16)
    assert dm.image_shape == (1, 8, 8) and dm.num_classes == 10
    x, y = _all(dm.test_dataloader())
    images, labels = arrays["test"]
    assert torch.equal(x, torch.from_numpy(images).unsqueeze(1).float() / 255)
    assert torch.equal(y, torch.from_numpy(labels).long())
    assert len(dm.train_set) == 48


def test_idx_folder_prefers_the_uncompressed_copy_beside_a_gz(tmp_path):
    write_idx_folder(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not read")
    assert find_idx_files(tmp_path)["train", "images"].name == "train-images-idx3-ubyte"


def test_idx_folder_with_a_missing_role_names_it_and_the_rule(tmp_path):
    write_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks IDX files for: test labels.*'idx1'"):
        GenericImageDataModule(data_dir=tmp_path).setup()


def test_truncated_idx_file_is_reported_with_its_sizes(tmp_path):
    write_idx_folder(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptFileError, match=r"truncated or damaged.*\(48, 8, 8\)"):
        read_idx(path)


def test_idx_labels_must_match_the_images(tmp_path):
    write_idx_folder(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, 3) + bytes(3))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\).*16 images"):
        GenericImageDataModule(data_dir=tmp_path).setup()


# ---------------------------------------------------------------- checksums
def test_checksums_pass_and_a_valid_other_file_is_not_called_damaged(tmp_path):
    write_idx_folder(tmp_path)
    good = {name: file_md5(tmp_path / name) for name in (n + ".gz" for n in NAMES.values())}
    GenericImageDataModule(data_dir=tmp_path, checksums=good).setup()
    wrong = {**good, "train-images-idx3-ubyte.gz": "0" * 32}
    with pytest.raises(UnexpectedDataFileError, match="not the expected data set") as info:
        GenericImageDataModule(data_dir=tmp_path, checksums=wrong).setup()
    message = str(info.value)
    assert "verify_checksums=False" in message and "download again" not in message
    assert "a valid IDX file of shape (48, 8, 8) uint8" in message
    # On request, nothing is checked.
    GenericImageDataModule(data_dir=tmp_path, checksums=wrong, verify_checksums=False).setup()


def test_a_damaged_file_is_still_called_damaged(tmp_path):
    write_idx_folder(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    checksums = {path.name: file_md5(path)}
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptFileError, match="download again") as info:
        GenericImageDataModule(data_dir=tmp_path, checksums=checksums).setup()
    assert not isinstance(info.value, UnexpectedDataFileError)


def test_mnist_reads_gzipped_files_checked_by_their_content(tmp_path):
    root, checksums = write_mnist(tmp_path)
    plain = MNISTDataModule(data_dir=root, checksums=checksums, batch_size=64)
    expected = _all(plain.train_dataloader())
    for path in (root / "MNIST" / "raw").iterdir():
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    gzipped = MNISTDataModule(data_dir=root, checksums=checksums, batch_size=64)
    for a, b in zip(_all(gzipped.train_dataloader()), expected, strict=True):
        assert torch.equal(a, b)


def test_mnist_refuses_idx_files_of_another_size_saying_what_to_use(tmp_path):
    write_idx_folder(tmp_path / "MNIST" / "raw", gz=False)
    with pytest.raises(ValueError, match=r"valid IDX file.*\(8, 8\).*GenericImageDataModule"):
        MNISTDataModule(data_dir=tmp_path, verify_checksums=False).setup()


# ---------------------------------------------------------------- other sources
def test_tensors_uint8_and_float_with_a_validation_split():
    images = torch.randint(0, 256, (40, 2, 5, 4), dtype=torch.uint8)
    labels = torch.arange(40) % 3
    dm = GenericImageDataModule.from_tensors(
        images[:30], labels[:30], images[30:], labels[30:], batch_size=8, val_split=0.2
    )
    assert dm.image_shape == (2, 5, 4) and dm.num_classes == 3
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (24, 6, 10)
    x, _ = _all(dm.test_dataloader())
    assert torch.equal(x, images[30:].float() / 255)
    floats = GenericImageDataModule.from_tensors(
        images[:30].double(), labels[:30], images[30:].double(), labels[30:], num_classes=5
    )
    assert floats.num_classes == 5
    assert torch.equal(_all(floats.test_dataloader())[0], images[30:].double())


def test_image_folder_reads_pngs_by_class(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for split, n in (("train", 3), ("test", 2)):
        for label in ("cat", "dog"):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / label / f"{i}.png")
                written[split, label, i] = pixels
    dm = GenericImageDataModule(source="image_folder", data_dir=tmp_path, batch_size=4)
    assert dm.image_shape == (3, 6, 7) and dm.num_classes == 2
    x, y = _all(dm.test_dataloader())
    assert y.tolist() == [0, 0, 1, 1]
    expected = torch.from_numpy(written["test", "dog", 1]).permute(2, 0, 1).float() / 255
    assert torch.equal(x[3], expected)
    (tmp_path / "test" / "dog").rename(tmp_path / "test" / "bird")
    with pytest.raises(ValueError, match="same class folders"):
        GenericImageDataModule(source="image_folder", data_dir=tmp_path).setup()


def _write_folder(root: Path, sizes: dict[str, tuple[int, int]], mode: str = "RGB") -> None:
    """train/ and test/ with one class folder each, one image of each named size."""
    for split in ("train", "test"):
        (root / split / "cat").mkdir(parents=True, exist_ok=True)
        for name, (h, w) in sizes.items():
            shape = (h, w, 3) if mode == "RGB" else (h, w)
            Image.fromarray(np.zeros(shape, dtype=np.uint8), mode).save(root / split / "cat" / name)


def test_an_image_folder_names_the_file_that_is_no_image(tmp_path):
    # It gave a raw PIL.UnidentifiedImageError from inside the loader.
    _write_folder(tmp_path, {"a.png": (8, 8)})
    (tmp_path / "train" / "cat" / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.png is not an image that PIL can read"):
        GenericImageDataModule(source="image_folder", data_dir=tmp_path).setup()


def test_an_image_folder_of_mixed_sizes_names_the_file_or_resizes(tmp_path):
    # image_shape said (3, 8, 8) while half the images were 10x10; then a raw stack error.
    _write_folder(tmp_path, {"a.png": (8, 8), "b.png": (10, 10)})
    with pytest.raises(ValueError, match=r"b\.png is 10x10 \(width x height\) but .*a\.png is 8x8"):
        GenericImageDataModule(source="image_folder", data_dir=tmp_path).setup()
    dm = GenericImageDataModule(source="image_folder", data_dir=tmp_path, resize=(6, 5))
    assert dm.image_shape == (3, 6, 5)
    x, _ = _all(dm.train_dataloader())
    assert x.shape == (2, 3, 6, 5)
    with pytest.raises(ValueError, match="`resize` applies to source='image_folder' only"):
        GenericImageDataModule(source="idx", resize=(6, 5))
    with pytest.raises(ValueError, match=r"`resize\[1\]` must be a positive integer"):
        GenericImageDataModule(source="image_folder", resize=(6, 0))


def test_an_image_folder_of_mixed_modes_names_the_file(tmp_path):
    _write_folder(tmp_path, {"a.png": (8, 8)})
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8), "L").save(tmp_path / "test" / "cat" / "g.png")
    with pytest.raises(ValueError, match=r"g\.png has 1 channel\(s\) but .* has 3"):
        GenericImageDataModule(source="image_folder", data_dir=tmp_path).setup()


def _write_gray_folder(root: Path, n: int = 2) -> dict[tuple[str, str, int], np.ndarray]:
    """train/ and test/ of grayscale ('L') 6x7 PNGs, two classes: MNIST-like folders."""
    rng = np.random.default_rng(0)
    written = {}
    for split in ("train", "test"):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (6, 7), dtype=np.uint8)
                Image.fromarray(pixels, "L").save(root / split / label / f"{i}.png")
                written[split, label, i] = pixels
    return written


@pytest.mark.parametrize(("channels", "expected"), [(1, 1), (3, 3), (None, 3)])
def test_a_grayscale_image_folder_has_the_channels_asked_for(tmp_path, channels, expected):
    # ImageFolder read grayscale PNGs as RGB: 3 channels, unusable with MNIST's models.
    written = _write_gray_folder(tmp_path)
    dm = GenericImageDataModule(
        source="image_folder", data_dir=tmp_path, batch_size=4, channels=channels
    )
    assert dm.image_shape == (expected, 6, 7) and dm.num_classes == 2
    x, y = _all(dm.test_dataloader())
    assert x.shape == (4, expected, 6, 7) and y.tolist() == [0, 0, 1, 1]
    gray = torch.from_numpy(written["test", "b", 1]).float() / 255
    assert all(torch.equal(x[3, c], gray) for c in range(expected))  # RGB repeats the gray


def test_channels_convert_an_image_folder_of_mixed_modes(tmp_path):
    # Without `channels` mixed modes are refused (above); with it, each image is converted.
    _write_folder(tmp_path, {"a.png": (8, 8)})
    Image.fromarray(np.full((8, 8), 51, dtype=np.uint8), "L").save(tmp_path / "test/cat/g.png")
    for channels in (1, 3):
        dm = GenericImageDataModule(source="image_folder", data_dir=tmp_path, channels=channels)
        assert dm.image_shape == (channels, 8, 8)
        x, _ = _all(dm.test_dataloader())
        assert x.shape == (2, channels, 8, 8)
        assert torch.equal(x[1], torch.full((channels, 8, 8), 0.2))  # 51/255: g.png, sorted 2nd


def test_torchvision_class_by_name_on_a_standin(tmp_path):
    root, checksums = write_mnist(tmp_path)
    dm = GenericImageDataModule(
        source="torchvision", dataset="MNIST", data_dir=root, checksums=checksums
    )
    assert dm.image_shape == (1, 28, 28) and dm.num_classes == 10
    assert (len(dm.train_set), len(dm.test_set)) == (TRAIN, TEST)
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    assert y.dtype == torch.long and set(y.tolist()) <= set(range(10))


@pytest.mark.parametrize(
    ("kwargs", "exception", "match"),
    [
        ({"source": "folder"}, ValueError, r"`source` must be one of \[.*'image_folder'"),
        ({"source": "torchvision"}, ValueError, r"`dataset` must name a torchvision.*None"),
        (
            {"source": "torchvision", "dataset": "Fashion"},
            ValueError,
            r"`dataset` must name .*'FashionMNIST'.*got 'Fashion'",
        ),
        ({"dataset": "MNIST"}, ValueError, r"needs source='torchvision'.*source='idx'"),
        ({"download": True}, ValueError, r"`download`=True needs source='torchvision'"),
        ({"num_classes": 0}, ValueError, r"`num_classes` must be a positive integer, got 0"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be a positive integer, got 0"),
        ({"val_split": 1.0}, ValueError, r"`val_split` must be in \[0, 1\), got 1\.0"),
        *(
            (
                {"source": "image_folder", "channels": bad},
                ValueError,
                r"`channels` must be None \(as the files are read: RGB\), 1 \(grayscale\) or "
                rf"3 \(RGB\), got {bad!r}",
            )
            for bad in (2, 0, "gray", True, 1.0)
        ),
        ({"channels": 1}, ValueError, r"`channels` applies to source='image_folder' only"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, exception, match):
    with pytest.raises(exception, match=match):
        GenericImageDataModule(**kwargs)


def test_bad_tensors_and_sources_name_themselves(tmp_path):
    x, y = torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"`test_images` must be a tensor \[n, c, h, w\]"):
        GenericImageDataModule.from_tensors(x, y, x[0], y)
    with pytest.raises(ValueError, match=r"`train_labels` must have shape \[4\], got \(3,\)"):
        GenericImageDataModule.from_tensors(x, y[:3], x, y)
    with pytest.raises(ValueError, match=r"`train_labels` must hold integer labels"):
        GenericImageDataModule.from_tensors(x, y.float(), x, y)
    with pytest.raises(ValueError, match=r"from_tensors takes no \['data_dir'\]"):
        GenericImageDataModule.from_tensors(x, y, x, y, data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"source='tensors' takes its images from"):
        GenericImageDataModule(source="tensors").setup()
    with pytest.raises(FileNotFoundError, match=r"reads .*train, which does not exist"):
        GenericImageDataModule(source="image_folder", data_dir=tmp_path).setup()


# ---------------------------------------------------------------- `anode fit`
def test_anode_fit_trains_from_a_folder_of_gzipped_idx_files(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["anode"])
    write_idx_folder(tmp_path / "idx", n_train=32, n_test=16)
    config = {
        "seed_everything": 0,
        "model": {
            "ode": {
                "class_path": "anode_plugin.AugmentedNeuralODE",
                "init_args": {
                    "vector_field": {
                        "class_path": "anode_plugin.ConvVectorField",
                        "init_args": {"channels": 2, "num_filters": 4},
                    },
                    "augment_dims": 1,
                    "solver": "rk4",
                },
            },
            "num_outputs": 10,
            "feature_dim": 2 * 8 * 8,
        },
        "data": {
            "class_path": "anode_plugin.datasets.GenericImageDataModule",
            "init_args": {
                "source": "idx",
                "data_dir": str(tmp_path / "idx"),
                "batch_size": 16,
                "val_split": 0.25,
            },
        },
        "trainer": {
            "max_epochs": 1,
            "default_root_dir": str(tmp_path / "run"),
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(path)])
    assert (
        tmp_path / "run" / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    ).is_file()
    with open(tmp_path / "run" / "lightning_logs" / "version_0" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(1 for r in rows if r.get("train/loss")) == 2  # 24 images, batches of 16
    assert any(r.get("val/acc") for r in rows)


def test_the_own_idx_example_config_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["anode"])
    write_idx_folder(tmp_path / "idx", n_train=8, n_test=4, size=28)
    config = Path(__file__).resolve().parents[2] / "examples/configs/images/own-idx-anode.yaml"
    main(
        [
            "fit",
            "--config",
            str(config),
            "--data.data_dir",
            str(tmp_path / "idx"),
            "--data.batch_size",
            "4",
            "--trainer.max_steps",
            "1",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.default_root_dir",
            str(tmp_path / "run"),
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    assert (
        tmp_path / "run" / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    ).is_file()
