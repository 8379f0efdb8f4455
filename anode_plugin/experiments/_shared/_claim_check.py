"""What every report's claims share: the checked-claim record and the rule for margins.

Each claim of a report (the toy experiments, the augmentations, the image benchmark) is
one :class:`ClaimCheck`, computed from the saved results alone, so a report can be
rebuilt from its JSON file and the checks tested on synthetic results.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

__all__ = [
    "MIN_SEEDS",
    "ClaimCheck",
    "claims_table",
    "judged_on",
    "margin_verdict",
    "missing",
    "seed_stats",
    "summary_verdict",
    "too_few_seeds",
    "verdict_words",
]

#: Seeds a claim needs before it is judged: one seed has no spread, so a difference
#: seen once could be that seed's luck.
MIN_SEEDS = 2
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
        holds: ``True``/``False``, or ``None`` when the experiment was not run or the
            claim was not judged (too few seeds).
        figures: the numbers behind ``measured``.
        not_judged: why a claim whose figures were measured was not judged (``holds``
            is then ``None``); empty otherwise.
    """

    key: str
    section: str
    claim: str
    criterion: str
    measured: str
    holds: bool | None
    figures: dict[str, Any] = field(default_factory=dict)
    not_judged: str = ""

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


def _too_few(seeds: int) -> str:
    return f"{seeds} seed(s), a claim needs at least {MIN_SEEDS}"


def too_few_seeds(seeds: int) -> str:
    """The ``not_judged`` reason of a claim measured on ``seeds`` < :data:`MIN_SEEDS`."""
    return f"not judged: {_too_few(seeds)}"


def judged_on(check: ClaimCheck, seeds: int) -> ClaimCheck:
    """``check``, or ``check`` marked not judged when it rests on too few ``seeds``."""
    if check.holds is None or seeds >= MIN_SEEDS:
        return check
    return replace(check, holds=None, not_judged=too_few_seeds(seeds))


def verdict_words(check: ClaimCheck) -> str:
    """The verdict for a report: ``holds``, ``**does not hold**``, ``not judged: ...`` or
    ``not run``."""
    if check.holds is None and check.not_judged:
        return check.not_judged
    return _VERDICTS[check.holds]


def summary_verdict(claim: dict[str, Any]) -> str:
    """A claim's verdict on a terminal (``claim``: :meth:`ClaimCheck.as_dict` or a CNF
    check): ``HOLDS``, ``DOES NOT HOLD``, ``NOT JUDGED`` or ``not run``."""
    if claim["holds"] is None:
        return "NOT JUDGED" if claim.get("not_judged") else "not run"
    return "HOLDS" if claim["holds"] else "DOES NOT HOLD"


def missing(key: str, section: str, claim: str, criterion: str, what: str) -> ClaimCheck:
    """The claim of an experiment that was not run (``what`` is missing): ``holds=None``."""
    return ClaimCheck(key, section, claim, criterion, f"not run ({what} missing)", None)


def margin_verdict(margins: Sequence[float]) -> tuple[bool | None, str]:
    """Whether ANODE beats NODE by ``margins`` (per seed, positive when ANODE is better).

    It holds when the mean margin is positive and beyond the seeds' spread (the standard
    deviation of the margins): a tie, or a mean inside the spread, does not hold. With
    fewer than :data:`MIN_SEEDS` seeds there is no spread to be beyond: not judged.

    Returns:
        Whether it holds (``None``: not judged), and the verdict in words (bold, for a
        report).
    """
    if len(margins) < MIN_SEEDS:
        return None, f"**Not judged** ({_too_few(len(margins))})"
    if any(math.isnan(m) for m in margins):
        # Neither model reached a target (or a figure is NaN): nothing to compare.
        return None, "**Not judged** (a margin is not a number)"
    if not all(math.isfinite(m) for m in margins):
        # A target a model never reached: an unbounded margin and no spread to measure,
        # so it holds only if ANODE wins in every seed.
        if all(m > 0 for m in margins):
            return True, "**Holds**"
        return False, "**Does not hold** (not in every seed, and a margin is unbounded)"
    mean = statistics.fmean(margins)
    if mean <= 0:
        return False, "**Does not hold**"
    spread = statistics.stdev(margins)
    if mean <= spread:
        return False, (
            f"**Does not hold** (within the seeds' spread: margin {mean:.2f} <= {spread:.2f})"
        )
    if not all(m > 0 for m in margins):
        return True, "**Holds on the mean, not in every seed**"
    return True, "**Holds**"


def claims_table(checks: Sequence[ClaimCheck], *, source: str = "Section") -> list[str]:
    """The claims as a markdown table's lines: number, ``source``, claim, test, measured
    figures and verdict (see :func:`verdict_words`)."""
    lines = [
        f"| # | {source} | Claim | Test | Measured | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    for i, check in enumerate(checks, 1):
        lines.append(
            f"| {i} | {check.section} | {check.claim} | {check.criterion} | {check.measured} "
            f"| {verdict_words(check)} |"
        )
    return lines
