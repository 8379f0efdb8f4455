"""The claims of the reports, each checked against the saved results.

:class:`ClaimCheck` and :func:`margin_verdict` (``_claim_check``) are shared by every
report; the toy experiments' checks are in ``_claim_checks``, listed here in the report's
order. Each check reads the results dict only, so a report can be rebuilt
from its JSON file and the checks can be tested on synthetic results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._shared import ClaimCheck, judged_on
from ._claim_checks import (
    check_g1d,
    check_generalisation,
    check_nfe,
    check_per_input_nfe,
    check_separable,
    check_separable_final,
    check_spheres,
)

__all__ = ["CLAIMS", "check_all"]

CLAIMS: tuple[Callable[[dict[str, Any]], ClaimCheck], ...] = (
    check_g1d,
    lambda results: check_spheres(results, 1),
    lambda results: check_spheres(results, 2),
    check_nfe,
    check_per_input_nfe,
    check_generalisation,
    check_separable,
    check_separable_final,
)


def check_all(results: dict[str, Any]) -> list[ClaimCheck]:
    """Every claim, checked against ``results`` (experiments not run give ``holds=None``,
    as do claims measured on fewer seeds than ``MIN_SEEDS``: not judged)."""
    seeds = min(
        (
            len(model["runs"])
            for experiment in results.get("experiments", {}).values()
            for model in experiment["models"].values()
        ),
        default=0,
    )
    return [judged_on(check(results), seeds) for check in CLAIMS]
