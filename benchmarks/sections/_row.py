"""One line of the results table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of the results table."""

    section: str
    case: str
    figure: str
    value: float
    goal: str = ""
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
