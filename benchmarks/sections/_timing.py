"""Timing helpers shared by the sections: alternate timing and one training step."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from torch import Tensor, nn


def median_ratio(a: Callable[[], float], b: Callable[[], float], repeats: int):
    """Time ``a`` and ``b`` alternately; returns (median a/b, median a, median b)."""
    ratios, ta, tb = [], [], []
    for i in range(repeats):
        if i % 2:
            x, y = a(), b()
        else:
            y, x = b(), a()
        ratios.append(x / y)
        ta.append(x)
        tb.append(y)
    return statistics.median(ratios), statistics.median(ta), statistics.median(tb)


def train_step(model: nn.Module, optimizer, x: Tensor, loss_fn: Callable[[Tensor], Tensor]):
    """One optimiser step of ``loss_fn(model(x))``; returns (seconds, loss)."""
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x))
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start, float(loss.detach())
