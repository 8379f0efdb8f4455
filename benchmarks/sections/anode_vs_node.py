"""ANODE against NODE: time to a training-loss target and forward NFE."""

from __future__ import annotations

import statistics
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anode_plugin import AugmentedNeuralODE

from ._classification import Classifier, anode_cases
from ._profiles import Profile
from ._row import Row
from ._timing import train_step


def _train_to_target(
    model: nn.Module, x: Tensor, y: Tensor, target: float, steps: int, batch: int, lr: float
) -> dict[str, Any]:
    optimizer = torch.optim.Adam(model.parameters(), lr)
    generator = torch.Generator().manual_seed(0)
    elapsed, reached, losses, nfes = 0.0, None, [], []
    ode = model.ode
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=generator)
        ode.reset_nfe()
        seconds, loss = train_step(
            model, optimizer, x[idx], lambda out, idx=idx: F.cross_entropy(out, y[idx])
        )
        elapsed += seconds
        losses.append(loss)
        nfes.append(ode.nfe.forward)
        window = losses[-10:]
        if reached is None and len(window) == 10 and statistics.mean(window) <= target:
            reached = {"step": step + 1, "seconds": elapsed}
            break
    return {
        "reached": reached,
        "final_loss": statistics.mean(losses[-10:]),
        "forward_nfe": statistics.mean(nfes),
        "steps": len(losses),
        "seconds": elapsed,
    }


def bench_anode_vs_node(p: Profile) -> list[Row]:
    rows = []
    for name, (x, y), target, batch, lr, variants in anode_cases():
        results = {}
        for label, (make, aug, feature_dim) in variants.items():
            torch.manual_seed(0)
            model = Classifier(AugmentedNeuralODE(make(), augment_dims=aug), feature_dim, 10)
            results[label] = _train_to_target(model, x, y, target, p.train_steps, batch, lr)
        node, anode = results.values()
        for label, r in results.items():
            rows.append(
                Row(
                    "anode_vs_node",
                    f"{name}, {label}",
                    f"seconds to train loss <= {target} (10-step mean)",
                    r["reached"]["seconds"] if r["reached"] else float("nan"),
                    details=r,
                )
            )
        rows.append(
            Row(
                "anode_vs_node",
                name,
                "mean forward NFE ANODE / NODE (training)",
                anode["forward_nfe"] / node["forward_nfe"],
                "< 1",
                anode["forward_nfe"] < node["forward_nfe"],
            )
        )
    return rows
