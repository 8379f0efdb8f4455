"""A batched state laid out for torchdyn's seminorm, which measures leading entries."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["MeasuredFirst"]


class MeasuredFirst:
    """A batched state ``[batch, n, ...]`` laid out for torchdyn's seminorm, which
    measures the leading entries of the flattened state: each sample's ``entries``
    measured entries first, the rest after."""

    def __init__(self, like: Tensor, entries: int) -> None:
        self.shape, self.entries = like.shape, entries
        self.rows = like.reshape(like.shape[0], -1).shape

    def flat(self, z: Tensor) -> Tensor:
        rows = z.reshape(self.rows)
        return torch.cat([rows[:, : self.entries].reshape(-1), rows[:, self.entries :].reshape(-1)])

    def state(self, flat: Tensor) -> Tensor:
        """The batched states of flat ones ``[..., entries]``: ``[..., *shape]``."""
        lead, batch = flat.shape[:-1], self.rows[0]
        measured = batch * self.entries
        rows = torch.cat(
            [
                flat[..., :measured].reshape(*lead, batch, -1),
                flat[..., measured:].reshape(*lead, batch, -1),
            ],
            dim=-1,
        )
        return rows.reshape(*lead, *self.shape)

    def field(self, field: Any) -> Any:
        return lambda t, flat: self.flat(field(t, self.state(flat)))
