"""``anode-experiments augmentations``: which augmentation fits, and at what NFE.

NODE, zero augmentation (ANODE, Dupont et al., 2019), a learned input layer (IL-NODE,
Massaroli et al., 2020) and second-order augmentation (SONODE, Norcliffe et al., 2020),
at matched parameter counts, over several seeds, on three tasks:

- ``g1d``: the 1-D map ``x -> -x`` on ``{-1, 1}``, fitted by the flow alone (the
  prediction is the original coordinate of ``phi(x)``, no readout);
- ``spheres_d2``: the concentric spheres in 2-D, a linear readout on ``phi(x)``;
- ``oscillator``: a damped oscillator ``x'' = -w^2 x - c x'`` from ``x(0)`` (and
  ``x'(0) = 0``): the model predicts the trajectory ``x(t_k)`` at ``K`` times from
  ``x(0)`` alone. All true trajectories pass through ``0`` at the same times, which
  the flow of a 1-D ODE cannot do.

Each run is a full-batch Adam loop (no Lightning: the runs are tiny and the loop
records the NFE of every step); the runs are spread over worker processes by
:func:`~anode_plugin.experiments._pool.map_jobs`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .._augmentations import InputLayer
from .._model import BACKENDS, SENSITIVITIES, AugmentedNeuralODE
from .._validation import check_choice, check_positive_float, check_positive_int
from .._vector_fields import MLPVectorField
from ..datasets import concentric_spheres, g1d
from ._pool import map_jobs

__all__ = [
    "AUGMENTATION_KINDS",
    "AUGMENTATION_TASKS",
    "AugmentationRun",
    "AugmentationsConfig",
    "build_augmentation_model",
    "damped_oscillator",
    "match_hidden_dim",
    "run_augmentations",
    "train_augmentation_run",
]

#: The compared models: a plain Neural ODE and the three augmentation kinds.
AUGMENTATION_KINDS = ("NODE", "zeros", "input_layer", "second_order")
#: The tasks, in report order.
AUGMENTATION_TASKS = ("g1d", "spheres_d2", "oscillator")
_MAX_MISMATCH = 0.05  # parameter counts within 5% of the zero-augmented model's


@dataclass(frozen=True)
class AugmentationsConfig:
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

    @property
    def seed_list(self) -> list[int]:
        """The seeds of the runs."""
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of the configuration."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------- data
def damped_oscillator(
    x0: Tensor, times: Tensor, *, omega: float = 2.0, damping: float = 0.3
) -> Tensor:
    """``x(t)`` of ``x'' = -omega^2 x - damping x'`` from ``x(0) = x0``, ``x'(0) = 0``.

    The closed form of the under-damped oscillator (``damping < 2 omega``):
    ``x0 e^{-c t / 2} (cos(w_d t) + c / (2 w_d) sin(w_d t))`` with
    ``w_d = sqrt(omega^2 - c^2 / 4)``.

    Args:
        x0: initial positions, ``[n, 1]``.
        times: ``[K]``.
        omega: natural frequency.
        damping: damping ``c``, below ``2 * omega``.

    Returns:
        The positions ``[K, n, 1]``.
    """
    if not 0 <= damping < 2 * omega:
        raise ValueError(
            f"`damping` must be in [0, 2 * omega) = [0, {2 * omega:g}) (under-damped), "
            f"got {damping!r}."
        )
    w_d = math.sqrt(omega**2 - damping**2 / 4)
    t = times.to(x0.dtype).reshape(-1, 1, 1)
    shape = torch.exp(-damping * t / 2) * (
        torch.cos(w_d * t) + damping / (2 * w_d) * torch.sin(w_d * t)
    )
    return shape * x0.unsqueeze(0)


def _task_data(task: str, config: AugmentationsConfig, seed: int) -> dict[str, Tensor]:
    if task == "g1d":
        x, y = g1d(num_points=config.g1d_points, seed=seed)
        return {"x": x, "y": y}
    if task == "spheres_d2":
        inner = config.spheres_points // 3
        x, y = concentric_spheres(
            dim=2, num_inner=inner, num_outer=config.spheres_points - inner, seed=seed
        )
        return {"x": x, "y": y}
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.rand(config.oscillator_points, 1, generator=generator) * 2 - 1
    times = torch.linspace(0.0, config.horizon, config.oscillator_times + 1)
    y = damped_oscillator(x0, times[1:], omega=config.omega, damping=config.damping)
    return {"x": x0, "y": y, "times": times}


# ---------------------------------------------------------------------------- models
def _input_dim(task: str) -> int:
    return 2 if task == "spheres_d2" else 1


def build_augmentation_model(
    kind: str, task: str, hidden_dim: int, config: AugmentationsConfig
) -> tuple[AugmentedNeuralODE, nn.Module | None]:
    """The ODE block of ``kind`` on ``task`` and its readout (``None``: the flow alone).

    Args:
        kind: one of ``AUGMENTATION_KINDS``.
        task: one of ``AUGMENTATION_TASKS``.
        hidden_dim: width of the field's hidden layers.
        config: the experiment's settings.
    """
    check_choice("kind", kind, AUGMENTATION_KINDS)
    check_choice("task", task, AUGMENTATION_TASKS)
    d = _input_dim(task)
    options: dict[str, Any] = {
        "backend": config.backend,
        "sensitivity": config.sensitivity,
        "atol": config.tol,
        "rtol": config.tol,
        "atol_adjoint": config.tol,
        "rtol_adjoint": config.tol,
    }
    if kind == "second_order":
        p = config.second_order_augment_dims
        n = d + p
        field = MLPVectorField(2 * n, hidden_dim, out_dim=n)
        options.update(augmentation="second_order", initial_velocity=config.initial_velocity)
        state = 2 * n
    else:
        p = 0 if kind == "NODE" else config.augment_dims
        field = MLPVectorField(d + p, hidden_dim)
        if kind == "input_layer":
            options["augmentation"] = InputLayer(p, d)
        state = d + p
    ode = AugmentedNeuralODE(field, augment_dims=p, **options)
    if kind == "second_order" and config.initial_velocity == "learned":
        ode.augmenter(torch.zeros(1, d))  # build the lazy velocity layer
    readout = nn.Linear(state, 1) if task == "spheres_d2" else None
    return ode, readout


def _count(kind: str, task: str, hidden_dim: int, config: AugmentationsConfig) -> int:
    ode, readout = build_augmentation_model(kind, task, hidden_dim, config)
    modules = [ode] if readout is None else [ode, readout]
    return sum(p.numel() for m in modules for n, p in m.named_parameters() if "dummy" not in n)


def match_hidden_dim(kind: str, task: str, config: AugmentationsConfig) -> tuple[int, int, int]:
    """The width giving ``kind`` the parameter count nearest the zero-augmented model's.

    Returns:
        ``(hidden_dim, parameters, budget)``.

    Raises:
        ValueError: no width comes within 5% of the budget.
    """
    budget = _count("zeros", task, config.hidden_dim, config)
    if kind == "zeros":
        return config.hidden_dim, budget, budget
    # The count grows with the width: walk up to the budget, keep the nearer neighbour.
    best, count = 1, _count(kind, task, 1, config)
    while count < budget:
        wider = _count(kind, task, best + 1, config)
        if abs(wider - budget) > abs(count - budget):
            break
        best, count = best + 1, wider
    if abs(count - budget) > _MAX_MISMATCH * budget:
        raise ValueError(
            f"No hidden width gives {kind} on {task} a parameter count within 5% of "
            f"{budget}; the nearest is {count} (width {best}). Change `hidden_dim`."
        )
    return best, count, budget


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class AugmentationRun:
    """One training run: model ``kind`` on ``task`` with ``seed`` (picklable).

    Args:
        kind: one of ``AUGMENTATION_KINDS``.
        task: one of ``AUGMENTATION_TASKS``.
        seed: seeds the data and the initial weights.
        config: the experiment's settings (already ``effective()``).
        with_viz: also record the first seed's predictions, for the figures.
    """

    kind: str
    task: str
    seed: int
    config: AugmentationsConfig
    with_viz: bool = False

    def describe(self) -> str:
        """A short name for progress displays."""
        return f"{self.task} {self.kind} seed {self.seed}"


def _predict(ode: AugmentedNeuralODE, readout: nn.Module | None, data: dict[str, Tensor]) -> Tensor:
    x = data["x"]
    if "times" in data:  # the trajectory's original coordinate at every t_k > 0
        states = ode.trajectory(x, data["times"])[1:]
        k, n = states.shape[:2]
        return ode.augmenter.strip(states.reshape(k * n, -1)).reshape(k, n, -1)
    features = ode.features(x)
    return ode.augmenter.strip(features) if readout is None else readout(features)


def train_augmentation_run(run: AugmentationRun) -> dict[str, Any]:
    """Train one run from scratch; returns its figures (a JSON-ready dict).

    Everything is built and seeded here, so the run gives the same figures in any
    process and order.
    """
    config, task, kind = run.config, run.task, run.kind
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hidden, count, budget = match_hidden_dim(kind, task, config)
        data = _task_data(task, config, run.seed)
        torch.manual_seed(run.seed)
        ode, readout = build_augmentation_model(kind, task, hidden, config)
        modules = nn.ModuleList([ode] if readout is None else [ode, readout])
        optimiser = torch.optim.Adam(modules.parameters(), lr=config.lr)
        losses: list[float] = []
        nfe_forward: list[int] = []
        nfe_backward: list[int] = []
        start = time.perf_counter()
        for _ in range(config.steps):
            ode.reset_nfe()
            loss = nn.functional.mse_loss(_predict(ode, readout, data), data["y"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            nfe_forward.append(ode.nfe.forward)
            nfe_backward.append(ode.nfe.backward)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            prediction = _predict(ode, readout, data)
            final = float(nn.functional.mse_loss(prediction, data["y"]))
    finally:
        torch.set_num_threads(previous_threads)
    result: dict[str, Any] = {
        "kind": kind,
        "task": task,
        "seed": run.seed,
        "hidden_dim": hidden,
        "num_parameters": count,
        "parameter_budget": budget,
        "final_loss": final,
        "loss_history": losses,
        "nfe_forward": nfe_forward,
        "nfe_backward": nfe_backward,
        "seconds": seconds,
    }
    if run.with_viz and task == "oscillator":
        order = data["x"][:, 0].argsort()[:: max(1, len(data["x"]) // 6)]
        result["viz"] = {
            "times": data["times"][1:].tolist(),
            "x0": data["x"][order, 0].tolist(),
            "truth": data["y"][:, order, 0].T.tolist(),
            "prediction": prediction[:, order, 0].T.tolist(),
        }
    return result


def run_augmentations(config: AugmentationsConfig, *, workers: int = 1) -> dict[str, Any]:
    """Every (task, kind, seed) run, in ``workers`` processes; the results by task and kind.

    Args:
        config: the settings (``quick`` is applied here).
        workers: worker processes; the results do not depend on it.

    Returns:
        ``{task: {kind: {"runs": [per seed], "hidden_dim", "num_parameters", ...}}}``.
    """
    effective = config.effective()
    runs = [
        AugmentationRun(kind, task, seed, effective, with_viz=index == 0)
        for task in AUGMENTATION_TASKS
        for index, seed in enumerate(effective.seed_list)
        for kind in AUGMENTATION_KINDS
    ]
    # The second-order and oscillator runs take longest: hand them out first.
    weight = {"oscillator": 3.0, "spheres_d2": 2.0, "g1d": 1.0}
    order = sorted(range(len(runs)), key=lambda i: -weight[runs[i].task])
    outcomes = map_jobs(
        train_augmentation_run,
        runs,
        workers=workers,
        progress=config.progress_bar,
        describe=AugmentationRun.describe,
        submit_order=order,
    )
    results: dict[str, Any] = {task: {} for task in AUGMENTATION_TASKS}
    for outcome in outcomes:
        entry = results[outcome["task"]].setdefault(
            outcome["kind"],
            {
                "hidden_dim": outcome["hidden_dim"],
                "num_parameters": outcome["num_parameters"],
                "parameter_budget": outcome["parameter_budget"],
                "runs": [],
            },
        )
        if "viz" in outcome:
            entry["viz"] = outcome.pop("viz")
        entry["runs"].append(outcome)
    return results
