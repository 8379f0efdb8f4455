"""Steady step time of a ``torch.compile``d vector field against eager."""

from __future__ import annotations

import copy
import time

import torch

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField

from ._data import digits, spheres
from ._profiles import Profile
from ._row import Row
from ._timing import median_ratio, train_step


def bench_compile(p: Profile) -> list[Row]:
    rows = []
    cases = [
        ("MLP, spheres", MLPVectorField(2 + 1, 32), spheres(256)[0], 1),
        ("conv, digits", ConvVectorField(1 + 5, 32), digits()[0][: p.efficiency_batch], 5),
    ]
    for name, vf, x, aug in cases:
        models, optimizers, warm = {}, {}, {}
        for compiled in (False, True):
            torch.manual_seed(0)
            field = copy.deepcopy(vf)
            # What a user would write: the package has no compile option (see the guide).
            models[compiled] = AugmentedNeuralODE(
                torch.compile(field) if compiled else field, augment_dims=aug
            )
            optimizers[compiled] = torch.optim.Adam(models[compiled].parameters(), 1e-3)
            start = time.perf_counter()
            for _ in range(2):
                train_step(
                    models[compiled].features, optimizers[compiled], x, lambda z: z.pow(2).mean()
                )
            warm[compiled] = time.perf_counter() - start

        def step(compiled: bool, models=models, optimizers=optimizers, x=x) -> float:
            return train_step(
                models[compiled].features, optimizers[compiled], x, lambda z: z.pow(2).mean()
            )[0]

        ratio, a, b = median_ratio(lambda: step(True), lambda: step(False), p.compile_repeats)
        rows.append(
            Row(
                "compile",
                name,
                "steady step time compiled / eager",
                ratio,
                "< 1 to add an option",
                ratio < 1,
                {
                    "compile_warmup_s": warm[True] - warm[False],
                    "compiled_ms": 1e3 * a,
                    "eager_ms": 1e3 * b,
                },
            )
        )
    return rows
