"""The figures' style: the models' and the classes' colours, and a grid of panels.

matplotlib (an optional dependency) is imported only when a grid is drawn."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COLORS", "POINT_COLORS", "grid", "point_colors"]

COLORS = {"NODE": "tab:red", "ANODE": "tab:blue", "ResNet": "tab:gray"}
POINT_COLORS = {-1.0: "tab:blue", 1.0: "tab:red"}


def point_colors(labels: list[float]) -> list[str]:
    """The colour of each point by the sign of its label (red for 0 and above)."""
    return [POINT_COLORS.get(float(np.sign(v)) or 1.0, "tab:red") for v in labels]


def grid(count: int, *, width: float = 4.0, height: float = 3.2) -> tuple[Figure, list]:
    """A figure of ``count`` panels, three to a row; the figure and its axes."""
    from matplotlib.figure import Figure

    cols = min(3, count)
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(count)]
    return fig, axes
