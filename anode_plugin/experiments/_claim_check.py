"""What every report's claims share: the checked-claim record and the rule for margins.

Each claim of a report (the toy experiments, the augmentations, the image benchmark) is
one :class:`ClaimCheck`, computed from the saved results alone, so a report can be
rebuilt from its JSON file and the checks tested on synthetic results.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["ClaimCheck", "claims_table", "margin_verdict", "missing", "seed_stats"]

_VERDICTS = {True: "holds", False: "**does not hold**", None: "not run"}


@dataclass(frozen=True)
class ClaimCheck:
    """One claim of the paper and what the run measured.

    Attributes:
        key: short identifier.
        section: the paper's section.
        claim: the claim, in words.
        criterion: the test applied to the measured figures.
        measured: the measured figures, in words.
        holds: ``True``/``False``, or ``None`` when the experiment was not run.
        figures: the numbers behind ``measured``.
    """

    key: str
    section: str
    claim: str
    criterion: str
    measured: str
    holds: bool | None
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def seed_stats(values: np.ndarray) -> str:
    """``mean ± std [min, max]`` over seeds."""
    if values.size == 1:
        return f"{values[0]:.4g} (1 seed)"
    return (
        f"{values.mean():.4g} ± {values.std(ddof=1):.2g} "
        f"[{values.min():.4g}, {values.max():.4g}] over {values.size} seeds"
    )


def missing(key: str, section: str, claim: str, criterion: str, what: str) -> ClaimCheck:
    """The claim of an experiment that was not run (``what`` is missing): ``holds=None``."""
    return ClaimCheck(key, section, claim, criterion, f"not run ({what} missing)", None)


def margin_verdict(margins: Sequence[float]) -> tuple[bool, str]:
    """Whether ANODE beats NODE by ``margins`` (per seed, positive when ANODE is better).

    It holds when the mean margin is positive and beyond the seeds' spread (the standard
    deviation of the margins; 0 with one seed): a tie, or a mean inside the spread, does
    not hold.

    Returns:
        Whether it holds, and the verdict in words (bold, for a report).
    """
    mean = statistics.fmean(margins)
    spread = statistics.stdev(margins) if len(margins) > 1 else 0.0
    if mean <= 0:
        return False, "**Does not hold**"
    if mean <= spread:
        return False, (
            f"**Does not hold** (within the seeds' spread: margin {mean:.2f} <= {spread:.2f})"
        )
    if not all(m > 0 for m in margins):
        return True, "**Holds on the mean, not in every seed**"
    return True, "**Holds**"


def claims_table(checks: Sequence[ClaimCheck], *, source: str = "Section") -> list[str]:
    """The claims as a markdown table's lines: number, ``source``, claim, test, measured
    figures and verdict (``holds``, ``**does not hold**`` or ``not run``)."""
    lines = [
        f"| # | {source} | Claim | Test | Measured | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    for i, check in enumerate(checks, 1):
        lines.append(
            f"| {i} | {check.section} | {check.claim} | {check.criterion} | {check.measured} "
            f"| {_VERDICTS[check.holds]} |"
        )
    return lines
