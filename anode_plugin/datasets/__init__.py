"""Toy data sets of the paper (sections 3-5.1) and their Lightning DataModules."""

from ._checksums import (
    CHECKSUMS,
    CorruptFileError,
    MissingFileError,
    UnexpectedDataFileError,
    file_md5,
    verify_files,
)
from ._densities import (
    DENSITIES,
    DIGITS_BIN_WIDTH,
    DensityDataModule,
    bits_per_dim,
    checkerboard,
    concentric_rings,
    density_samples,
    digits_counts,
    eight_gaussians,
    two_moons,
)
from ._digits import DigitsDataModule
from ._generic_images import IMAGE_SOURCES, GenericImageDataModule
from ._idx import find_idx_files, read_idx
from ._images import ImageDataModule, UInt8ImageDataset
from ._paper_images import CIFAR10DataModule, MNISTDataModule, SVHNDataModule
from ._tiny_imagenet import (
    TinyImageNetDataModule,
    TinyImageNetFolder,
    extract_tiny_imagenet,
    reorganise_tiny_imagenet_val,
)
from ._toy import (
    concentric_spheres,
    g1d,
    held_out_slices,
    sample_in_shell,
    shifted_sines,
    spheres_generalisation_split,
)
from ._toy_classes import (
    ConcentricSpheresDataModule,
    ShiftedSinesDataModule,
    SpheresGeneralisationDataModule,
)
from ._toy_datamodule import LABELS, ToyDataModule
from ._toy_regression import G1dDataModule, ReflectionDataModule

__all__ = [
    "CHECKSUMS",
    "DENSITIES",
    "DIGITS_BIN_WIDTH",
    "IMAGE_SOURCES",
    "LABELS",
    "CIFAR10DataModule",
    "ConcentricSpheresDataModule",
    "CorruptFileError",
    "DensityDataModule",
    "DigitsDataModule",
    "G1dDataModule",
    "GenericImageDataModule",
    "ImageDataModule",
    "MNISTDataModule",
    "MissingFileError",
    "ReflectionDataModule",
    "SVHNDataModule",
    "ShiftedSinesDataModule",
    "SpheresGeneralisationDataModule",
    "TinyImageNetDataModule",
    "TinyImageNetFolder",
    "ToyDataModule",
    "UInt8ImageDataset",
    "UnexpectedDataFileError",
    "bits_per_dim",
    "checkerboard",
    "concentric_rings",
    "concentric_spheres",
    "density_samples",
    "digits_counts",
    "eight_gaussians",
    "extract_tiny_imagenet",
    "file_md5",
    "find_idx_files",
    "g1d",
    "held_out_slices",
    "read_idx",
    "reorganise_tiny_imagenet_val",
    "sample_in_shell",
    "shifted_sines",
    "spheres_generalisation_split",
    "two_moons",
    "verify_files",
]
