"""Solver efficiency: the share of a training step spent inside the vector field."""

from __future__ import annotations

import statistics
import time

import torch
from torch import Tensor, nn

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField

from ._profiles import Profile
from ._row import Row
from ._timing import train_step


def _field_time(field: nn.Module, z: Tensor, repeats: int) -> float:
    """Median time of one evaluation and its backward (a vector-Jacobian product)."""
    z = z.detach().requires_grad_(True)
    t = torch.tensor(0.5)
    times = []
    for _ in range(max(repeats, 5) * 4):
        start = time.perf_counter()
        out = field(t, z)
        torch.autograd.grad(out, [z, *field.parameters()], torch.ones_like(out))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_efficiency(p: Profile) -> list[Row]:
    rows = []
    b, bm = p.efficiency_batch, p.mnist_batch
    cases = [
        ("MLP, digits-sized", MLPVectorField(64 + 5, 64), torch.rand(b, 64), 5, 0.0),
        ("MLP, MNIST-sized", MLPVectorField(784 + 5, 64), torch.rand(bm, 784), 5, 0.0),
        ("conv, digits-sized", ConvVectorField(1 + 5, 32), torch.rand(b, 1, 8, 8), 5, 0.85),
        ("conv, MNIST-sized", ConvVectorField(1 + 5, 32), torch.rand(bm, 1, 28, 28), 5, 0.85),
    ]
    for name, vf, x, aug, goal in cases:
        torch.manual_seed(0)
        model = AugmentedNeuralODE(vf, augment_dims=aug, return_t_eval=False)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        train_step(model, optimizer, x, lambda s: s[-1].pow(2).mean())
        steps, nfes = [], []
        for _ in range(p.repeats):
            model.reset_nfe()
            steps.append(train_step(model, optimizer, x, lambda s: s[-1].pow(2).mean())[0])
            nfes.append(model.nfe.forward)
        z = model.augmenter(x)
        one = _field_time(vf, z, p.repeats)
        step = statistics.median(steps)
        nfe = statistics.median(nfes)
        share = nfe * one / step
        rows.append(
            Row(
                "efficiency",
                name,
                "share of a training step inside the field",
                share,
                f">= {goal}" if goal else "",
                share >= goal if goal else None,
                {"nfe": nfe, "eval_ms": 1e3 * one, "step_ms": 1e3 * step, "batch": x.shape[0]},
            )
        )
    return rows
