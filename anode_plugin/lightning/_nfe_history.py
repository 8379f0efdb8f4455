"""The per-step NFE history kept by :class:`~anode_plugin.lightning.NFECallback`."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, overload

from .._atomic import atomic_path, write_text_atomic

__all__ = ["NFEHistory", "NFEStep"]


@dataclass(frozen=True)
class NFEStep:
    """One training step of an :class:`NFEHistory`.

    Under multi-process training every figure is the mean over the processes.

    Attributes:
        global_step: optimiser steps done when the step ended (the first step is 1).
        epoch: the epoch the step belongs to (0-based).
        loss: the training loss of the step (``nan`` if the step returned none).
        nfe_forward: forward evaluations, summed over the ODE blocks.
        nfe_backward: backward (adjoint) evaluations, summed over the ODE blocks.
        nfe_total: ``nfe_forward + nfe_backward``.
        steps_accepted: accepted solver steps, forward and backward, summed over the
            ``AugmentedNeuralODE`` blocks (plain torchdyn blocks report none).
        steps_rejected: rejected solver steps, likewise.
    """

    global_step: int
    epoch: int
    loss: float
    nfe_forward: float
    nfe_backward: float
    nfe_total: float
    steps_accepted: float = 0.0
    steps_rejected: float = 0.0


_COLUMNS = tuple(f.name for f in fields(NFEStep))


class NFEHistory(Sequence[NFEStep]):
    """A growing sequence of :class:`NFEStep` records that writes itself to CSV or JSON.

    Example:
        >>> history = NFEHistory()
        >>> history.append(NFEStep(1, 0, 0.5, 26.0, 0.0, 26.0))
        >>> history[-1].nfe_forward
        26.0
    """

    def __init__(self, steps: Sequence[NFEStep] = ()) -> None:
        self._steps = list(steps)

    @overload
    def __getitem__(self, index: int) -> NFEStep: ...

    @overload
    def __getitem__(self, index: slice) -> list[NFEStep]: ...

    def __getitem__(self, index):
        return self._steps[index]

    def __len__(self) -> int:
        return len(self._steps)

    def __iter__(self) -> Iterator[NFEStep]:
        return iter(self._steps)

    def __repr__(self) -> str:
        return f"NFEHistory({len(self)} steps)"

    def append(self, step: NFEStep) -> None:
        """Add one step at the end."""
        self._steps.append(step)

    def clear(self) -> None:
        """Forget every step."""
        self._steps.clear()

    def as_dicts(self) -> list[dict[str, Any]]:
        """The steps as plain dictionaries, one per step."""
        return [asdict(step) for step in self._steps]

    @classmethod
    def from_dicts(cls, rows: Sequence[Mapping[str, Any]]) -> NFEHistory:
        """Rebuild a history from :meth:`as_dicts` output."""
        # Histories saved before step statistics existed have no step columns.
        return cls(
            [NFEStep(**{name: row[name] for name in _COLUMNS if name in row}) for row in rows]
        )

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write one row per step, with a header, to ``path``."""
        with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=_COLUMNS)
            writer.writeheader()
            writer.writerows(self.as_dicts())

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write a JSON list with one object per step to ``path``."""
        write_text_atomic(path, json.dumps(self.as_dicts(), indent=1))
