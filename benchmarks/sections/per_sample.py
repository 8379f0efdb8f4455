"""Per-sample against joint stepping: evaluations, step time and loss, side by side.

The same model (weights, data, batches, dopri5 at the same tolerance) is trained three
ways: torchdyn, which solves the batch as one system; torchode stepping the batch as
one system (``per_sample=False``); and torchode stepping each sample on its own. A
joint solve takes the step sizes of its hardest sample for every sample; per-sample
stepping lets each sample stop when it is done, though the field is still evaluated
on the whole batch (the finished samples ride along), so the evaluations a per-sample
solve needs are its per-sample NFE summed, while those it computes are the batch NFE
times the batch size.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField
from anode_plugin.datasets import g1d
from anode_plugin.solve import Solve, TorchdynBackend, TorchodeBackend

from ._classification import Classifier
from ._data import digits, spheres
from ._profiles import Profile
from ._row import Row

#: How each model is solved, by label.
MODES: dict[str, Callable[[], Solve]] = {
    "torchdyn": lambda: Solve(TorchdynBackend()),
    "torchode joint": lambda: Solve(TorchodeBackend(per_sample=False)),
    "torchode per-sample": lambda: Solve(TorchodeBackend(per_sample=True)),
}


class _Regressor(nn.Module):
    """ODE block, then the first coordinate of the final state (g1d, no readout)."""

    def __init__(self, ode: AugmentedNeuralODE) -> None:
        super().__init__()
        self.ode = ode

    def forward(self, x: Tensor) -> Tensor:
        return self.ode.features(x)[:, :1]


def _cases(batch_of_digits: int) -> list[dict[str, Any]]:
    xs, ys = spheres(1024)
    xg, yg = g1d(num_points=256, noise_scale=0.1, seed=0)
    xd, yd = digits()
    return [
        {
            "name": "spheres 2-D, MLP NODE",
            "data": (xs, ys),
            "batch": 128,
            "model": lambda solve: Classifier(
                AugmentedNeuralODE(MLPVectorField(2, 32), augment_dims=0, solve=solve), 2, 2
            ),
            "loss": F.cross_entropy,
        },
        {
            "name": "g1d (noisy inputs), MLP NODE",
            "data": (xg, yg),
            "batch": 64,
            "model": lambda solve: _Regressor(
                AugmentedNeuralODE(MLPVectorField(1, 32), augment_dims=0, solve=solve)
            ),
            "loss": F.smooth_l1_loss,
        },
        {
            "name": "digits, conv ANODE p=5",
            "data": (xd, yd),
            "batch": batch_of_digits,
            "model": lambda solve: Classifier(
                AugmentedNeuralODE(ConvVectorField(6, 32), augment_dims=5, solve=solve), 6 * 64, 10
            ),
            "loss": F.cross_entropy,
        },
    ]


def _train(case: dict[str, Any], solve: Solve, initial: dict, steps: int) -> dict[str, float]:
    # On a GPU when there is one (benchmarks/gpu.sh), synchronised around each step.
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = case["model"](solve)
    model.load_state_dict(initial)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    x, y = (t.to(device) for t in case["data"])
    generator = torch.Generator().manual_seed(0)  # the same batches for every mode
    seconds, losses, batch_nfe, needed = [], [], [], []
    for _ in range(steps):
        idx = torch.randint(0, len(x), (case["batch"],), generator=generator).to(device)
        model.ode.reset_nfe()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = case["loss"](model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
        losses.append(float(loss.detach()))
        batch_nfe.append(model.ode.nfe.forward)
        needed.append(int(model.ode.stats.per_sample.nfe.sum()))
    skip = min(2, steps - 1)  # the first steps build solvers and warm caches
    return {
        "step_ms": 1e3 * statistics.median(seconds[skip:]),
        "loss": statistics.mean(losses[-10:]),
        "batch_nfe": statistics.mean(batch_nfe),
        # Evaluations computed: each batch evaluation evaluates every sample.
        "evaluations_computed": statistics.mean(batch_nfe) * case["batch"],
        # Evaluations needed: each sample's own NFE, summed over the batch.
        "evaluations_needed": statistics.mean(needed),
        "per_sample_nfe_mean": statistics.mean(needed) / case["batch"],
        "device": device.type,
    }


def bench_per_sample(p: Profile) -> list[Row]:
    rows = []
    for case in _cases(p.efficiency_batch):
        torch.manual_seed(0)
        initial = copy.deepcopy(case["model"](MODES["torchdyn"]()).state_dict())
        results = {
            mode: _train(case, make(), initial, p.per_sample_steps) for mode, make in MODES.items()
        }
        joint, alone = results["torchode joint"], results["torchode per-sample"]
        dyn = results["torchdyn"]
        details = {mode: r for mode, r in results.items()}
        rows += [
            Row(
                "per_sample",
                case["name"],
                "evaluations needed per-sample / computed jointly (torchode)",
                alone["evaluations_needed"] / joint["evaluations_computed"],
                details=details,
            ),
            Row(
                "per_sample",
                case["name"],
                "step time torchode per-sample / torchdyn",
                alone["step_ms"] / dyn["step_ms"],
                details={m: r["step_ms"] for m, r in results.items()},
            ),
            Row(
                "per_sample",
                case["name"],
                "final loss torchode per-sample / torchdyn",
                alone["loss"] / dyn["loss"],
                details={m: r["loss"] for m, r in results.items()},
            ),
        ]
    return rows
