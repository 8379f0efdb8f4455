"""The typed options of ``anode-experiments augmentations`` and the kinds and tasks it
compares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..._model import BACKENDS, SENSITIVITIES
from ..._validation import check_choice, check_positive_float, check_positive_int
from .._shared import ExperimentSettings

__all__ = ["AUGMENTATION_KINDS", "AUGMENTATION_TASKS", "AugmentationsConfig"]


#: The compared models: a plain Neural ODE and the three augmentation kinds.
AUGMENTATION_KINDS = ("NODE", "zeros", "input_layer", "second_order")
#: The tasks, in report order.
AUGMENTATION_TASKS = ("g1d", "spheres_d2", "oscillator")
_MAX_MISMATCH = 0.05  # parameter counts within 5% of the zero-augmented model's


@dataclass(frozen=True)
class AugmentationsConfig(ExperimentSettings):
    """Settings of ``anode-experiments augmentations``.

    Args:
        seeds: seeds (repetitions) per model and task.
        first_seed: the first seed; runs use ``first_seed, first_seed + 1, ...``.
        steps: full-batch Adam steps per run.
        lr: Adam's learning rate.
        hidden_dim: hidden width of the zero-augmented model's field; its parameter
            count (field, learned augmentation and readout) is the budget every other
            model's width is matched to, within 5%.
        augment_dims: ``p`` of the zero and input-layer models.
        second_order_augment_dims: ``p`` of the second-order model (``0``: SONODE,
            whose state ``[x, v]`` already doubles the dimension).
        initial_velocity: the second-order model's ``v(0)``: ``'zeros'`` or ``'learned'``.
        backend: a name from ``BACKENDS``.
        sensitivity: the gradient method; ``'adjoint'`` gives a backward NFE.
        tol: absolute and relative tolerance of dopri5 (forward and adjoint).
        g1d_points: training points of ``g1d``.
        spheres_points: training points of the 2-D spheres (a third inside).
        oscillator_points: initial positions ``x(0)``, uniform in ``[-1, 1]``.
        oscillator_times: times ``t_k`` in ``(0, horizon]`` the trajectory is fitted at.
        omega: the oscillator's natural frequency ``w``.
        damping: the oscillator's damping ``c``.
        horizon: the last time ``T`` of the trajectory.
        quick: a few steps on a few points, for a smoke test (seconds).
        progress_bar: show a progress bar over the runs.
    """

    seeds: int = 3
    first_seed: int = 0
    steps: int = 120
    lr: float = 1e-2
    hidden_dim: int = 32
    augment_dims: int = 1
    second_order_augment_dims: int = 0
    initial_velocity: str = "zeros"
    # torchdiffeq: its dense output reads the oscillator's 10 saved times off the steps
    # the flow needs; the native backend steps onto each of them, which made every
    # model's forward NFE the grid's (68, measured) and hid the NFE claim.
    backend: str = "torchdiffeq"
    sensitivity: str = "adjoint"
    tol: float = 1e-3
    g1d_points: int = 16
    spheres_points: int = 192
    oscillator_points: int = 32
    oscillator_times: int = 10
    omega: float = 2.0
    damping: float = 0.3
    horizon: float = 3.0
    quick: bool = False
    progress_bar: bool = True

    def __post_init__(self) -> None:
        for name in ("seeds", "steps", "hidden_dim", "augment_dims", "g1d_points"):
            check_positive_int(name, getattr(self, name))
        for name in ("spheres_points", "oscillator_points", "oscillator_times"):
            check_positive_int(name, getattr(self, name))
        if self.first_seed < 0 or self.second_order_augment_dims < 0:
            raise ValueError(
                "`first_seed` and `second_order_augment_dims` must be non-negative, got "
                f"{self.first_seed} and {self.second_order_augment_dims}."
            )
        check_choice("initial_velocity", self.initial_velocity, ("zeros", "learned"))
        check_choice("backend", self.backend, BACKENDS)
        check_choice("sensitivity", self.sensitivity, SENSITIVITIES[self.backend])
        for name in ("lr", "tol", "omega", "horizon"):
            check_positive_float(name, getattr(self, name))
        if not self.damping >= 0:
            raise ValueError(f"`damping` must be a number >= 0, got {self.damping!r}.")

    def effective(self) -> AugmentationsConfig:
        """The settings the runs use: with ``quick``, 3 steps on a few points."""
        if not self.quick:
            return self
        return dataclasses.replace(
            self,
            steps=min(self.steps, 3),
            spheres_points=min(self.spheres_points, 24),
            oscillator_points=min(self.oscillator_points, 8),
            g1d_points=min(self.g1d_points, 4),
            quick=False,
        )
