"""Conditional flow matching (Lipman et al., 2023; Tong et al., 2024) through torchcfm.

Flow matching trains a CNF's field by regression on a probability path between the
data and the base distribution, with no ODE solve per step. ``torchcfm`` (MIT, by the
authors of conditional flow matching) draws the path's points and their conditional
velocities; it knows nothing of fields or augmentation, so it composes with any of
this package's flows. It is an optional dependency, the ``flow-matching`` extra,
imported on first use: it brings POT, pandas and absl-py, and POT's import is slow.
"""

from __future__ import annotations

from types import ModuleType

from torch import Tensor

from ._validation import check_choice, check_non_negative_float

__all__ = ["COUPLINGS", "conditional_path", "require_torchcfm"]

#: How data and noise are paired: independently (CFM), or by the minibatch's optimal
#: transport plan (OT-CFM: straighter paths; POT draws the pairs from NumPy's global
#: generator, so seed NumPy too for a reproducible run).
COUPLINGS = ("independent", "ot")


def conditional_path(
    source: Tensor, target: Tensor, *, sigma: float, coupling: str
) -> tuple[Tensor, Tensor, Tensor]:
    """Points of the straight conditional path from ``source`` to ``target``.

    Args:
        source: the path's start, ``[batch, n]`` (here: the data, with its augmented entries).
        target: the path's end, ``[batch, n]`` (here: base-distribution draws).
        sigma: standard deviation of the Gaussian around the path, ``>= 0``.
        coupling: ``'independent'`` or ``'ot'`` (see :data:`COUPLINGS`).

    Returns:
        ``(s, z_s, u_s)``: times in ``[0, 1]``, ``[batch]``; points on the path,
        ``[batch, n]``; and the conditional velocities ``d z_s / ds``, ``[batch, n]``.
    """
    check_choice("coupling", coupling, COUPLINGS)
    sigma = check_non_negative_float("sigma", sigma)
    torchcfm = require_torchcfm()

    matcher = (
        torchcfm.ConditionalFlowMatcher(sigma=sigma)
        if coupling == "independent"
        else torchcfm.ExactOptimalTransportConditionalFlowMatcher(sigma=sigma)
    )
    s, z, u = matcher.sample_location_and_conditional_flow(source, target)
    return s, z, u


def require_torchcfm() -> ModuleType:
    """``torchcfm``, or an ``ImportError`` that names the extra which installs it."""
    try:
        import torchcfm
    except ImportError as error:
        raise ImportError(
            "Flow matching needs torchcfm, which the package installs only on request: "
            "pip install 'anode-plugin[flow-matching]' (it brings POT, pandas and "
            f"absl-py). The import failed with: {error}"
        ) from error
    return torchcfm
