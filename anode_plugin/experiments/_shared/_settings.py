"""What the experiments' configuration dataclasses share: their seeds and their record."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ExperimentSettings"]


class ExperimentSettings:
    """Base of the configuration dataclasses: the seeds of the runs and the JSON record.

    A subclass is a frozen dataclass with the fields ``seeds`` (how many) and
    ``first_seed``; its runs use ``first_seed, first_seed + 1, ...``.
    """

    seeds: int
    first_seed: int

    @property
    def seed_list(self) -> list[int]:
        """The seeds of the runs."""
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of the configuration."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]
