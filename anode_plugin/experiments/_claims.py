"""The claims of the reports, each checked against the saved results.

:class:`ClaimCheck` and :func:`margin_verdict` (``_claim_check``) are shared by every
report: the toy experiments (here, from ``_toy_claims``), the augmentations and the
image benchmark. Each check reads the results dict only, so a report can be rebuilt
from its JSON file and the checks can be tested on synthetic results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._claim_check import ClaimCheck, claims_table, margin_verdict, missing, seed_stats
from ._toy_claims import (
    G1D_ANODE_MAX,
    G1D_NODE_MIN,
    NFE_ANODE_MAX_RATIO,
    NFE_GROWTH_MIN,
    SEPARABLE_FIT_MAX,
    SEPARABLE_GAP_MAX_RATIO,
    check_g1d,
    check_generalisation,
    check_nfe,
    check_per_input_nfe,
    check_separable,
    check_separable_final,
    check_spheres,
    nfe_start_end,
)

__all__ = [
    "CLAIMS",
    "G1D_ANODE_MAX",
    "G1D_NODE_MIN",
    "NFE_ANODE_MAX_RATIO",
    "NFE_GROWTH_MIN",
    "SEPARABLE_FIT_MAX",
    "SEPARABLE_GAP_MAX_RATIO",
    "ClaimCheck",
    "check_all",
    "check_g1d",
    "check_generalisation",
    "check_nfe",
    "check_per_input_nfe",
    "check_separable",
    "check_separable_final",
    "check_spheres",
    "claims_table",
    "margin_verdict",
    "missing",
    "nfe_start_end",
    "seed_stats",
]

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
    """Every claim, checked against ``results`` (experiments not run give ``holds=None``)."""
    return [check(results) for check in CLAIMS]
