"""The paper's toy experiments, each a function of its configuration.

Each returns ``{key: result}`` with one entry per data set it trains on (``g1d``
trains on ``g1d`` and the identity; ``spheres`` on each dimension).
"""

from __future__ import annotations

from typing import Any

from ..datasets import (
    ConcentricSpheresDataModule,
    G1dDataModule,
    ShiftedSinesDataModule,
    SpheresGeneralisationDataModule,
)
from ._config import G1dConfig, GeneralisationConfig, SeparableConfig, SpheresConfig
from ._runner import run_models

__all__ = ["run_g1d", "run_generalisation", "run_separable", "run_spheres"]


def run_g1d(config: G1dConfig) -> dict[str, Any]:
    """Section 3: the flow alone (no readout) fitted to ``g1d(x) = -x`` and to the identity."""
    results = {}
    targets = [("g1d", True)] + ([("g1d_identity", False)] if config.identity else [])
    for key, flip in targets:
        title = "g1d(x) = -x on {-1, 1}" if flip else "identity on {-1, 1}"
        results[key] = run_models(
            f"Section 3, flow alone: {title}",
            lambda seed, flip=flip: G1dDataModule(
                num_points=config.num_points, flip=flip, batch_size=config.batch_size, seed=seed
            ),
            config,
            readout=False,
        )
    return results


def run_spheres(config: SpheresConfig) -> dict[str, Any]:
    """Sections 4.1 and 5.1: a ball inside an annulus, in each dimension of ``config.dims``."""
    results = {}
    for dim in config.dims:
        results[f"spheres_d{dim}"] = run_models(
            f"Sections 4.1 and 5.1: concentric spheres, d = {dim}",
            lambda seed, dim=dim: ConcentricSpheresDataModule(
                dim=dim,
                num_inner=config.num_inner,
                num_outer=config.num_outer,
                r1=config.r1,
                r2=config.r2,
                r3=config.r3,
                batch_size=config.batch_size,
                seed=seed,
            ),
            config,
        )
    return results


def run_separable(config: SeparableConfig) -> dict[str, Any]:
    """Section 4.1's control: two shifted sine curves, separable without tearing the plane."""
    return {
        "separable": run_models(
            "Section 4.1: separable data (two shifted sine curves), d = 2",
            lambda seed: ShiftedSinesDataModule(
                num_upper=config.num_upper,
                num_lower=config.num_lower,
                shift=config.shift,
                noise_scale=config.noise_scale,
                batch_size=config.batch_size,
                seed=seed,
            ),
            config,
        )
    }


def run_generalisation(config: GeneralisationConfig) -> dict[str, Any]:
    """Section 5.1: train on 2-D spheres without the angular slices, validate on them."""
    return {
        "generalisation": run_models(
            "Section 5.1: generalisation to held-out angular slices of the 2-D spheres",
            lambda seed: SpheresGeneralisationDataModule(
                num_inner=config.num_inner,
                num_outer=config.num_outer,
                slices=config.slices,
                batch_size=config.batch_size,
                seed=seed,
            ),
            config,
        )
    }
