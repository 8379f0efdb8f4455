"""The paper's conv field against the same field concatenating a time channel."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from reference_fields import ConcatConvVectorField  # benchmarks/reference_fields.py
from torch import nn

from anode_plugin import ConvVectorField

from ._profiles import Profile
from ._row import Row
from ._timing import median_ratio


def bench_conv_field(p: Profile) -> list[Row]:
    """The paper's conv field against the same field concatenating a time channel."""
    torch.manual_seed(0)
    field = ConvVectorField(6, 64)
    reference = ConcatConvVectorField(6, 64)
    reference.load_state_dict(field.state_dict())
    x = torch.rand(32, 6, 28, 28)
    t = torch.tensor(0.5)
    with torch.no_grad():
        gap = float((field(t, x) - reference(t, x)).abs().max())

    cpu: dict[str, list[float]] = {"ours": [], "theirs": []}

    def evaluation(f: nn.Module, name: str) -> Callable[[], float]:
        z = x.clone().requires_grad_(True)

        def once() -> float:
            start, start_cpu = time.perf_counter(), time.thread_time()
            out = f(t, z)
            torch.autograd.grad(out, [z, *f.parameters()], torch.ones_like(out))
            cpu[name].append(time.thread_time() - start_cpu)
            return time.perf_counter() - start

        return once

    ours, theirs = evaluation(field, "ours"), evaluation(reference, "theirs")
    for _ in range(5):  # warm-up, also of the allocator: a solve evaluates the field often
        ours(), theirs()
    cpu["ours"].clear(), cpu["theirs"].clear()
    ratio, a, b = median_ratio(ours, theirs, max(p.repeats, 5) * 4)
    # CPU time of this thread: unlike wall time, not stretched by other processes.
    cpu_ratio = statistics.median(o / r for o, r in zip(cpu["ours"], cpu["theirs"], strict=True))
    return [
        Row(
            "conv_field",
            "batch 32, 6x28x28, 64 filters",
            "evaluation + backward time ours / concatenating time channel",
            ratio,
            "<= 0.75, outputs within 1e-6",
            ratio <= 0.75 and gap <= 1e-6,
            {
                "ours_ms": 1e3 * a,
                "concatenating_ms": 1e3 * b,
                "cpu_time_ratio": cpu_ratio,
                "max_output_difference": gap,
            },
        )
    ]
