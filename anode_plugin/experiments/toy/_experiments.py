"""The paper's toy experiments, each a function of its configuration.

Each experiment is a list of ``RunGroup``s, one per data set it trains on (``g1d``
trains on ``g1d`` and the identity; ``spheres`` on each dimension), and its runner
returns ``{key: result}`` with one entry per group. The data modules are built by
``functools.partial``s (a lambda does not pickle), so that the runs can be sent to
worker processes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ...datasets import (
    ConcentricSpheresDataModule,
    G1dDataModule,
    ShiftedSinesDataModule,
    SpheresGeneralisationDataModule,
    ToyDataModule,
)
from ._config import G1dConfig, GeneralisationConfig, SeparableConfig, SpheresConfig
from ._runner import RunGroup, run_groups

__all__ = [
    "g1d_groups",
    "generalisation_groups",
    "run_g1d",
    "run_generalisation",
    "run_separable",
    "run_spheres",
    "separable_groups",
    "spheres_groups",
]


def _build(cls: type[ToyDataModule], kwargs: dict[str, Any], seed: int) -> ToyDataModule:
    return cls(**kwargs, seed=seed)


def _seeded(cls: type[ToyDataModule], **kwargs: Any) -> Callable[[int], ToyDataModule]:
    """``seed -> cls(**kwargs, seed=seed)`` that pickles."""
    return partial(_build, cls, kwargs)


def g1d_groups(config: G1dConfig) -> list[RunGroup]:
    """Section 3: the flow alone (no readout) fitted to ``g1d(x) = -x`` and to the identity."""
    targets = [("g1d", True)] + ([("g1d_identity", False)] if config.identity else [])
    return [
        RunGroup(
            key,
            "Section 3, flow alone: "
            + ("g1d(x) = -x on {-1, 1}" if flip else "identity on {-1, 1}"),
            _seeded(
                G1dDataModule, num_points=config.num_points, flip=flip, batch_size=config.batch_size
            ),
            config,
            readout=False,
        )
        for key, flip in targets
    ]


def spheres_groups(config: SpheresConfig) -> list[RunGroup]:
    """Sections 4.1 and 5.1: a ball inside an annulus, in each dimension of ``config.dims``."""
    return [
        RunGroup(
            f"spheres_d{dim}",
            f"Sections 4.1 and 5.1: concentric spheres, d = {dim}",
            _seeded(
                ConcentricSpheresDataModule,
                dim=dim,
                num_inner=config.num_inner,
                num_outer=config.num_outer,
                r1=config.r1,
                r2=config.r2,
                r3=config.r3,
                batch_size=config.batch_size,
            ),
            config,
        )
        for dim in config.dims
    ]


def separable_groups(config: SeparableConfig) -> list[RunGroup]:
    """Section 4.1's control: two shifted sine curves, separable without tearing the plane."""
    return [
        RunGroup(
            "separable",
            "Section 4.1: separable data (two shifted sine curves), d = 2",
            _seeded(
                ShiftedSinesDataModule,
                num_upper=config.num_upper,
                num_lower=config.num_lower,
                shift=config.shift,
                noise_scale=config.noise_scale,
                batch_size=config.batch_size,
            ),
            config,
        )
    ]


def generalisation_groups(config: GeneralisationConfig) -> list[RunGroup]:
    """Section 5.1: train on 2-D spheres without the angular slices, validate on them."""
    return [
        RunGroup(
            "generalisation",
            "Section 5.1: generalisation to held-out angular slices of the 2-D spheres",
            _seeded(
                SpheresGeneralisationDataModule,
                num_inner=config.num_inner,
                num_outer=config.num_outer,
                slices=config.slices,
                batch_size=config.batch_size,
            ),
            config,
        )
    ]


def run_g1d(config: G1dConfig, *, workers: int = 1) -> dict[str, Any]:
    """Run ``g1d_groups(config)`` in ``workers`` processes (see ``run_groups``)."""
    return run_groups(g1d_groups(config), workers=workers, progress=config.progress_bar)


def run_spheres(config: SpheresConfig, *, workers: int = 1) -> dict[str, Any]:
    """Run ``spheres_groups(config)`` in ``workers`` processes (see ``run_groups``)."""
    return run_groups(spheres_groups(config), workers=workers, progress=config.progress_bar)


def run_separable(config: SeparableConfig, *, workers: int = 1) -> dict[str, Any]:
    """Run ``separable_groups(config)`` in ``workers`` processes (see ``run_groups``)."""
    return run_groups(separable_groups(config), workers=workers, progress=config.progress_bar)


def run_generalisation(config: GeneralisationConfig, *, workers: int = 1) -> dict[str, Any]:
    """Run ``generalisation_groups(config)`` in ``workers`` processes (see ``run_groups``)."""
    return run_groups(generalisation_groups(config), workers=workers, progress=config.progress_bar)
