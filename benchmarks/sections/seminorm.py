"""Backward NFE saved by the seminorm adjoint, on both backends."""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from anode_plugin import AugmentedNeuralODE, ConvVectorField

from ._profiles import Profile
from ._row import Row


def _seminorm_case(
    backend: str, seminorm: bool, field: nn.Module, head: nn.Linear, x, y, reduction
):
    model = AugmentedNeuralODE(
        copy.deepcopy(field),
        augment_dims=5,
        backend=backend,
        sensitivity="adjoint",
        seminorm=seminorm,
    )
    head = copy.deepcopy(head)
    start = time.perf_counter()
    logits = head(model.features(x).flatten(1))
    F.cross_entropy(logits, y, reduction=reduction).backward()
    seconds = time.perf_counter() - start
    grads = torch.cat([q.grad.flatten() for q in model.parameters()])
    return model.nfe.backward, grads, seconds


def bench_seminorm(p: Profile) -> list[Row]:
    rows = []
    torch.manual_seed(0)
    field = ConvVectorField(1 + 5, 32)
    x = torch.rand(p.mnist_batch, 1, 28, 28)
    y = torch.randint(0, 10, (p.mnist_batch,))
    head = nn.Linear(6 * 28 * 28, 10)
    for backend in ("torchdyn", "torchdiffeq"):
        for reduction in ("mean", "sum"):
            semi = _seminorm_case(backend, True, field, head, x, y, reduction)
            full = _seminorm_case(backend, False, field, head, x, y, reduction)
            saving = 1 - semi[0] / full[0]
            diff = float((semi[1] - full[1]).norm() / full[1].norm())
            rows.append(
                Row(
                    "seminorm",
                    f"conv MNIST-sized, {backend}, CE {reduction}",
                    "fewer backward NFE with seminorm",
                    saving,
                    ">= 0.25",
                    saving >= 0.25,
                    {
                        "backward_nfe_seminorm": semi[0],
                        "backward_nfe_full": full[0],
                        "gradient_relative_difference": diff,
                        "seconds_seminorm": semi[2],
                        "seconds_full": full[2],
                    },
                )
            )
    return rows
