"""The reconstruction check's solver tolerances: the ladder, the default threshold and
the checks of their arguments, shared by :mod:`anode_plugin.testing`,
:mod:`anode_plugin.lightning` (``ReconstructionCheck``) and ``anode-images``."""

from __future__ import annotations

import itertools
import math

__all__ = [
    "RECONSTRUCTION_THRESHOLD",
    "TOLERANCE_LADDER",
    "check_ladder",
    "check_optional_tolerance",
    "check_threshold",
]


#: The tolerances tried by :func:`loosest_passing_tolerance`, loosest first: from the
#: paper's 1e-3 down to 1e-8 (still above float32's floor of about 1.2e-9).
TOLERANCE_LADDER: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)

#: The reconstruction check's default largest relative error per sample, ``||x_rec - x|| / ||x||``.
RECONSTRUCTION_THRESHOLD = 1e-2


def _positive_finite(value: object) -> bool:
    """Whether ``value`` is an int or float (not a bool) in ``(0, inf)``."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value < math.inf


def check_threshold(threshold: object, name: str = "threshold") -> float:
    """``threshold`` as a float: a positive finite number; else a ``ValueError``."""
    if not _positive_finite(threshold):
        raise ValueError(
            f"`{name}` must be a positive finite number (the largest relative error "
            f"||x_rec - x|| / ||x|| per sample), got {threshold!r}."
        )
    return float(threshold)


def check_optional_tolerance(name: str, value: object) -> float | None:
    """``value`` as a float, or ``None``: a positive finite number; else a ``ValueError``."""
    if value is None:
        return None
    if not _positive_finite(value):
        raise ValueError(f"`{name}` must be None or a positive number, got {value!r}.")
    return float(value)


def check_ladder(ladder: object, name: str = "ladder") -> tuple[float, ...]:
    """``ladder`` as a tuple of floats: positive, finite, strictly decreasing."""
    try:
        values = tuple(ladder)  # type: ignore[arg-type]
    except TypeError:
        values = None
    if (
        not values
        or not all(_positive_finite(v) for v in values)
        or any(a <= b for a, b in itertools.pairwise(values))
    ):
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive tolerances, strictly "
            f"decreasing (loosest first), e.g. {TOLERANCE_LADDER}; got {ladder!r}."
        )
    return tuple(float(v) for v in values)
