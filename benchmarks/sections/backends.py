"""Training step time with the torchdiffeq backend against torchdyn."""

from __future__ import annotations

import copy
import statistics

import torch

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField

from ._data import digits, spheres
from ._profiles import Profile
from ._row import Row
from ._timing import median_ratio, train_step


def bench_backends(p: Profile) -> list[Row]:
    rows = []
    xs, _ = spheres(256)
    cases = [
        ("MLP, spheres", MLPVectorField(2 + 1, 32), xs, 1),
        ("conv, digits", ConvVectorField(1 + 5, 32), digits()[0][: p.efficiency_batch], 5),
    ]
    for name, vf, x, aug in cases:
        models, optimizers = {}, {}
        counts: dict[str, list[int]] = {"torchdyn": [], "torchdiffeq": []}
        for backend in ("torchdyn", "torchdiffeq"):
            models[backend] = AugmentedNeuralODE(
                copy.deepcopy(vf), augment_dims=aug, backend=backend
            )
            optimizers[backend] = torch.optim.Adam(models[backend].parameters(), 1e-3)

        def step(backend: str, models=models, optimizers=optimizers, x=x, counts=counts) -> float:
            model = models[backend]
            model.reset_nfe()
            seconds = train_step(model.features, optimizers[backend], x, lambda z: z.pow(2).mean())[
                0
            ]
            counts[backend].append(model.nfe.forward)
            return seconds

        step("torchdyn"), step("torchdiffeq")
        ratio, a, b = median_ratio(lambda: step("torchdiffeq"), lambda: step("torchdyn"), p.repeats)
        rows.append(
            Row(
                "backends",
                name,
                "step time torchdiffeq / torchdyn",
                ratio,
                details={
                    "nfe_torchdyn": statistics.median(counts["torchdyn"]),
                    "nfe_torchdiffeq": statistics.median(counts["torchdiffeq"]),
                    "torchdyn_ms": 1e3 * b,
                    "torchdiffeq_ms": 1e3 * a,
                },
            )
        )
    return rows
