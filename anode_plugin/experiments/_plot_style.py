"""What the toy figures share: the models' and the classes' colours, and a grid of panels."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

COLORS = {"NODE": "tab:red", "ANODE": "tab:blue", "ResNet": "tab:gray"}
_POINT_COLORS = {-1.0: "tab:blue", 1.0: "tab:red"}


def _point_colors(labels: list[float]) -> list[str]:
    return [_POINT_COLORS.get(float(np.sign(v)) or 1.0, "tab:red") for v in labels]


def _grid(count: int, *, width: float = 4.0, height: float = 3.2) -> tuple[Figure, list]:
    cols = min(3, count)
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(count)]
    return fig, axes
