"""Random probes with ``E[eps eps^T] = I``: Hutchinson's estimator of a trace, shared by
the CNF's log-determinant and the Jacobian regulariser."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PROBES", "draw_probe"]

PROBES = ("gaussian", "rademacher")


def draw_probe(like: Tensor, kind: str) -> Tensor:
    """A probe of ``like``'s shape with ``E[eps eps^T] = I``: Gaussian or Rademacher."""
    if kind == "gaussian":
        return torch.randn_like(like)
    return torch.randint_like(like, 0, 2).mul_(2).sub_(1)
