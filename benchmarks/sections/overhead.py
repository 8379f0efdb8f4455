"""Step time of ``AugmentedNeuralODE`` against the same model hand-built from torchdyn."""

from __future__ import annotations

from dataclasses import asdict

import overhead  # benchmarks/overhead.py, reused as is

from ._profiles import Profile
from ._row import Row


def bench_overhead(p: Profile) -> list[Row]:
    rows = []
    for case, sensitivity in p.overhead_cases:
        r = overhead.measure(case, sensitivity, p.repeats)
        rows.append(
            Row(
                "overhead",
                f"{case}, {sensitivity}",
                "step time ours / hand-built torchdyn",
                r.median_ratio,
                "<= 1.03, same NFE",
                r.median_ratio <= 1.03 and r.nfe_identical,
                asdict(r),
            )
        )
    return rows
