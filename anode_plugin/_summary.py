"""Mean and sample standard deviation of repeated runs, as numbers or as a table cell."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

__all__ = ["format_mean_std", "mean_std"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """The mean of ``values`` and their sample standard deviation (0.0 for one value).

    Args:
        values: one figure per run; at least one.
    """
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def format_mean_std(values: Iterable[float | None], spec: str = ".3g") -> str:
    """``"mean ± std"`` of the values that are not ``None``, formatted with ``spec``.

    One value is written alone; none gives ``"-"``, as an empty table cell.

    Args:
        values: one figure per run; ``None`` for a run that did not measure it.
        spec: a format specification for both numbers, e.g. ``".1f"``.
    """
    present = [float(v) for v in values if v is not None]
    if not present:
        return "-"
    mean, std = mean_std(present)
    if len(present) == 1:
        return f"{mean:{spec}}"
    return f"{mean:{spec}} ± {std:{spec}}"
