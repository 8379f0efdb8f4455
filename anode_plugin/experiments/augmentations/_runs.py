"""One run of ``anode-experiments augmentations``: a full-batch Adam loop that records the
NFE of every step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..._model import AugmentedNeuralODE
from ._config import AugmentationsConfig
from ._tasks import build_augmentation_model, match_hidden_dim, task_data

__all__ = ["AugmentationRun", "train_augmentation_run"]


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
        data = task_data(task, config, run.seed)
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
