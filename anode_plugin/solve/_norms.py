"""Error norms of step-size control: functions of the error, not flags.

A seminorm (Kidger, Chen & Lyons, 2021) measures only part of the state: the adjoint
state without the parameters' adjoint, or a regularised state without the integrals
of its regularisers. Each backend turns a :class:`ErrorNorm` into its own convention.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from torch import Tensor

__all__ = ["ErrorNorm"]


@dataclass(frozen=True)
class ErrorNorm:
    """The RMS norm over the leading ``entries`` entries of each sample.

    A state of two or more dimensions holds one sample per index of its first
    dimension, each flattened into a row; a 1-D state is one row.

    Attributes:
        entries: how many leading entries of each row step-size control measures;
            ``None`` for all of them (the full norm).
    """

    entries: int | None = None

    def __post_init__(self) -> None:
        entries = self.entries
        if entries is not None and (
            isinstance(entries, bool) or not isinstance(entries, numbers.Integral) or entries < 1
        ):
            # A negative count would slice from the end (all but the last entries), zero
            # would give a NaN norm that no step ever satisfies.
            raise ValueError(
                f"`entries` must be a positive integer (the leading entries measured) or "
                f"None (all of them), got {entries!r}."
            )

    def __call__(self, error: Tensor) -> Tensor:
        """The RMS of ``error``'s measured entries: a scalar tensor."""
        return self.measured(error).pow(2).mean().sqrt()

    def per_sample(self, error: Tensor) -> Tensor:
        """The RMS of each row's measured entries: ``[rows]`` (per-sample step control)."""
        return self.measured(error).pow(2).mean(1).sqrt()

    def measured(self, error: Tensor) -> Tensor:
        """The measured entries, one row per sample: ``[rows, entries]``."""
        rows = error.reshape(1, -1) if error.ndim < 2 else error.reshape(error.shape[0], -1)
        return rows if self.entries is None else rows[:, : self.entries]

    @property
    def is_full(self) -> bool:
        """Whether every entry is measured."""
        return self.entries is None


FULL_NORM = ErrorNorm()
