"""The small data sets the sections train on: sklearn digits and 2-D concentric spheres."""

from __future__ import annotations

import torch
from torch import Tensor

from anode_plugin.datasets import concentric_spheres


def digits() -> tuple[Tensor, Tensor]:
    """sklearn's 8x8 digits as ``[1797, 1, 8, 8]`` images in [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.as_tensor(data.images, dtype=torch.float32).div(16).unsqueeze(1)
    return x, torch.as_tensor(data.target)


def spheres(n: int = 512) -> tuple[Tensor, Tensor]:
    """``n`` points of 2-D concentric spheres, ``[n, 2]``, labelled 1 inside, 0 outside."""
    x, y = concentric_spheres(dim=2, num_inner=n // 4, num_outer=n - n // 4, seed=0)
    return x, (y[:, 0] > 0).long()
