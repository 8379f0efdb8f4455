"""Toy data sets of the paper (sections 3-5.1) and their Lightning DataModules."""

from ._toy import (
    concentric_spheres,
    g1d,
    held_out_slices,
    sample_in_shell,
    shifted_sines,
    spheres_generalisation_split,
)
from ._toy_datamodules import (
    ConcentricSpheresDataModule,
    G1dDataModule,
    ShiftedSinesDataModule,
    SpheresGeneralisationDataModule,
    ToyDataModule,
)

__all__ = [
    "ConcentricSpheresDataModule",
    "G1dDataModule",
    "ShiftedSinesDataModule",
    "SpheresGeneralisationDataModule",
    "ToyDataModule",
    "concentric_spheres",
    "g1d",
    "held_out_slices",
    "sample_in_shell",
    "shifted_sines",
    "spheres_generalisation_split",
]
