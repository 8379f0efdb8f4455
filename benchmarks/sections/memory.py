"""Peak memory of a training step against the number of solver steps: autograd vs adjoint.

Each measurement runs ``memory_child.py`` in a fresh process, so peaks do not mix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ._profiles import Profile
from ._row import Row

_CHILD = Path(__file__).with_name("memory_child.py")


def bench_memory(p: Profile) -> list[Row]:
    rows, peaks = [], {}
    for sensitivity in ("autograd", "adjoint"):
        for steps in p.memory_steps:
            out = subprocess.run(
                [sys.executable, str(_CHILD), str(steps), sensitivity],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            peaks[(sensitivity, steps)] = r["peak_mib"]
            rows.append(
                Row(
                    "memory",
                    f"conv 16x1x28x28, rk4, {steps} steps, {sensitivity}",
                    "peak RSS of a training step above a no-grad solve (MiB)",
                    r["peak_mib"],
                    details=r,
                )
            )
    first, last = p.memory_steps[0], p.memory_steps[-1]
    autograd = peaks[("autograd", last)] - peaks[("autograd", first)]
    adjoint = peaks[("adjoint", last)] - peaks[("adjoint", first)]
    share = adjoint / autograd if autograd > 0 else float("nan")
    rows.append(
        Row(
            "memory",
            f"{first} -> {last} steps",
            "adjoint's memory growth / autograd's",
            share,
            "flat (< 0.1)",
            share < 0.1,
            {"autograd_growth_mib": autograd, "adjoint_growth_mib": adjoint},
        )
    )
    return rows
