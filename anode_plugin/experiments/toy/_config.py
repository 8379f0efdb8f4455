"""Typed configurations of the toy experiments; the command line is built from them.

Defaults follow the reference ANODE code (MLP hidden 32, time-dependent, dopri5 at
tolerance 1e-3, Adam 1e-3, batch 64, SmoothL1, 500 inner / 1500 outer points,
30 epochs) and are sized so that ``anode-experiments toy`` finishes in minutes on a
laptop CPU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from ..._model import SOLVERS
from ..._validation import (
    check_choice,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
)
from ...solve._defaults import BACKEND  # the toy experiments' backend
from .._shared import ExperimentSettings

__all__ = [
    "EXPERIMENTS",
    "G1dConfig",
    "GeneralisationConfig",
    "SeparableConfig",
    "SpheresConfig",
    "ToyConfig",
    "TrainingConfig",
]


@dataclass(frozen=True)
class TrainingConfig(ExperimentSettings):
    """Settings shared by every experiment.

    Args:
        seeds: number of seeds (repetitions) per model.
        first_seed: the first seed; runs use ``first_seed, first_seed + 1, ...``.
        epochs: training epochs.
        batch_size: minibatch size.
        lr: Adam learning rate.
        hidden_dim: width of the vector field's two hidden layers.
        augment_dims: the ANODE's augmented dimensions ``p`` (the NODE has ``p = 0``).
        time_dependent: whether the vector field sees the time ``t``.
        solver: torchdyn solver of the ODE models.
        tol: absolute and relative tolerance of the adaptive solver.
        resnet_blocks: residual blocks of the ResNet baseline; its width is chosen so
            that its parameter count matches the NODE's vector field.
        snapshots: how many times the features are recorded during training (Figure 8).
        progress_bar: show a progress bar over the runs (runs done out of the total).
        num_threads: torch CPU threads of each run; these models are so small that one
            thread is the fastest (several threads mostly wait on each other), and the
            runs go to one worker process per core (``--workers``).
    """

    seeds: int = 3
    first_seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    hidden_dim: int = 32
    augment_dims: int = 1
    time_dependent: bool = True
    solver: str = "dopri5"
    tol: float = 1e-3
    resnet_blocks: int = 5
    snapshots: int = 6
    progress_bar: bool = True
    num_threads: int = 1

    # Whether `epochs=None` ("each experiment's default") is allowed.
    _epochs_optional: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_positive_int("seeds", self.seeds)
        check_positive_int("num_threads", self.num_threads)
        check_non_negative_int("first_seed", self.first_seed)
        if not (self.epochs is None and self._epochs_optional):
            check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive_float("lr", self.lr)
        check_positive_int("hidden_dim", self.hidden_dim)
        check_positive_int("augment_dims", self.augment_dims)
        check_choice("solver", self.solver, SOLVERS[BACKEND])
        check_positive_float("tol", self.tol)
        check_positive_int("resnet_blocks", self.resnet_blocks)
        check_positive_int("snapshots", self.snapshots)


@dataclass(frozen=True)
class G1dConfig(TrainingConfig):
    """Section 3: fit ``g1d(x) = -x`` (and the identity) on ``{-1, 1}`` by the flow alone.

    Args:
        num_points: training points, half at -1 and half at +1.
        identity: also fit the identity map, which a Neural ODE learns easily.
    """

    epochs: int = 60
    batch_size: int = 16
    num_points: int = 64
    identity: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("num_points", self.num_points)


@dataclass(frozen=True)
class SpheresConfig(TrainingConfig):
    """Sections 4 and 5.1: a ball (-1) inside an annulus (+1), for each dimension in ``dims``.

    Args:
        dims: the dimensions ``d`` to run.
        num_inner: points in the ball ``|x| <= r1``.
        num_outer: points in the annulus ``r2 <= |x| <= r3``.
        r1: radius of the ball.
        r2: inner radius of the annulus.
        r3: outer radius of the annulus.
    """

    dims: tuple[int, ...] = (1, 2)
    num_inner: int = 500
    num_outer: int = 1500
    r1: float = 0.5
    r2: float = 1.0
    r3: float = 1.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.dims:
            raise ValueError("`dims` must name at least one dimension, got ().")
        for d in self.dims:
            check_positive_int("dims", d)
        check_positive_int("num_inner", self.num_inner)
        check_positive_int("num_outer", self.num_outer)
        if not 0 < self.r1 < self.r2 < self.r3:
            raise ValueError(
                f"Radii must satisfy 0 < r1 < r2 < r3, got r1={self.r1}, r2={self.r2}, "
                f"r3={self.r3}."
            )


@dataclass(frozen=True)
class SeparableConfig(TrainingConfig):
    """Section 4.1's baseline: two shifted sine curves in 2-D, separable by a homeomorphism.

    Args:
        num_upper: points on the upper curve (+1).
        num_lower: points on the lower curve (-1).
        shift: vertical gap between the curves.
        noise_scale: standard deviation of the noise added to the curves.
    """

    num_upper: int = 1000
    num_lower: int = 1000
    shift: float = 1.4
    noise_scale: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("num_upper", self.num_upper)
        check_positive_int("num_lower", self.num_lower)
        check_positive_float("shift", self.shift)
        check_positive_float("noise_scale", self.noise_scale)


@dataclass(frozen=True)
class GeneralisationConfig(TrainingConfig):
    """Section 5.1: 2-D spheres with the points of angular slices held out for validation.

    Args:
        num_inner: points in the ball before the slices are removed.
        num_outer: points in the annulus before the slices are removed.
        slices: held-out angle intervals ``[a, b)`` in radians.
    """

    num_inner: int = 500
    num_outer: int = 1500
    slices: tuple[tuple[float, float], ...] = ((0.0, math.pi / 5),)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("num_inner", self.num_inner)
        check_positive_int("num_outer", self.num_outer)
        for lo, hi in self.slices:
            if not 0 <= lo < hi <= 2 * math.pi + 1e-12:
                raise ValueError(f"Each slice must satisfy 0 <= a < b <= 2*pi, got ({lo}, {hi}).")


@dataclass(frozen=True)
class ToyConfig(TrainingConfig):
    """Every toy experiment with its own defaults, scaled.

    Args:
        epochs: train every experiment this many epochs; ``None`` keeps each
            experiment's own default (times ``epochs_scale``).
        epochs_scale: multiplies each experiment's default number of epochs.
        size_scale: multiplies each experiment's default number of points.
    """

    _epochs_optional: ClassVar[bool] = True
    epochs: int | None = None
    epochs_scale: float = 1.0
    size_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_float("epochs_scale", self.epochs_scale)
        check_positive_float("size_scale", self.size_scale)

    def scaled(self, config_cls: type[TrainingConfig]) -> TrainingConfig:
        """``config_cls`` with this configuration's shared settings, epochs and sizes scaled."""
        defaults = config_cls()
        shared = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(TrainingConfig)
            if f.name != "epochs" and getattr(self, f.name) != getattr(TrainingConfig(), f.name)
        }
        changes: dict = dict(shared)
        epochs = defaults.epochs if self.epochs is None else self.epochs
        changes["epochs"] = max(1, round(epochs * self.epochs_scale))
        for name in ("num_points", "num_inner", "num_outer", "num_upper", "num_lower"):
            if hasattr(defaults, name):
                changes[name] = max(2, round(getattr(defaults, name) * self.size_scale))
        return dataclasses.replace(defaults, **changes)


EXPERIMENTS: dict[str, type[TrainingConfig]] = {
    "g1d": G1dConfig,
    "spheres": SpheresConfig,
    "separable": SeparableConfig,
    "generalisation": GeneralisationConfig,
}
