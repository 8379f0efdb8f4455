"""What the experiments share: the worker pool, the claim record and margin rule, the
configurations' common settings, the results record and the figures' style."""

from ._claim_check import (
    MIN_SEEDS,
    ClaimCheck,
    claims_table,
    judged_on,
    margin_verdict,
    missing,
    seed_stats,
    summary_verdict,
    too_few_seeds,
    verdict_words,
)
from ._plot_style import COLORS, POINT_COLORS, grid, point_colors
from ._pool import map_jobs, usable_cores
from ._results import environment, print_claims, read_results, results_record, timed
from ._settings import ExperimentSettings

__all__ = [
    "COLORS",
    "MIN_SEEDS",
    "POINT_COLORS",
    "ClaimCheck",
    "ExperimentSettings",
    "claims_table",
    "environment",
    "grid",
    "judged_on",
    "map_jobs",
    "margin_verdict",
    "missing",
    "point_colors",
    "print_claims",
    "read_results",
    "results_record",
    "seed_stats",
    "summary_verdict",
    "timed",
    "too_few_seeds",
    "usable_cores",
    "verdict_words",
]
