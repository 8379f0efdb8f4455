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

import torch
from torch import Tensor

from .._validation import check_choice, check_non_negative_float
from ._entries import AugmentedEntries

__all__ = ["COUPLINGS", "FlowMatching", "conditional_path", "require_torchcfm"]

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


class FlowMatching(AugmentedEntries):
    """``AugmentedCNF``'s training without a solve: :meth:`flow_matching_loss`."""

    def flow_matching_loss(
        self, x: Tensor, *, sigma: float = 0.0, coupling: str = "independent"
    ) -> Tensor:
        """The conditional flow-matching loss: no solve of the flow, one field evaluation.

        The straight path from ``z(t0)`` (the data, with their augmented entries) to
        ``z(t1) ~ N(0, I)`` (Lipman et al., 2023; Tong et al., 2024, through torchcfm);
        the field is regressed on its conditional velocity, in ``t``'s units. What
        moves along the path: a plain flow's ``x``; the variational flow's ``[x, e]``
        with ``e ~ q(e | x)`` held fixed (the loss does not train ``q``: keep
        ``q='standard_normal'``, or train ``q`` by the bound afterwards); the exact flow's
        ``x``, with ``a(t)`` from its own solve (:meth:`augmented_path`, a ``p``-entry
        solve shared by the batch) as the field's extra input. Trained this way, the
        flow's :meth:`log_prob` and :meth:`sample` are used as usual.

        Args:
            x: data, ``[batch, data_dims]``.
            sigma: standard deviation of the Gaussian around the path (0: the OT path).
            coupling: ``'independent'`` or ``'ot'`` (minibatch optimal transport); see
                :data:`anode_plugin.COUPLINGS`.

        Returns:
            The squared error summed over the regressed entries, averaged over the
            batch: a scalar.
        """
        x = self._data("x", x, self.data_dims)
        if x.shape[0] == 0:
            raise ValueError("`x` must hold at least one sample, got an empty batch.")
        t = self._times(None, x)
        duration = t[-1] - t[0]
        source = x
        if self.augment_dims and self.exact is None:
            e, _ = self.draw_augmentation(x)
            source = torch.cat([x, e.detach()], dim=1)
        s, state, velocity = conditional_path(
            source, torch.randn_like(source), sigma=sigma, coupling=coupling
        )
        if self.exact is not None:
            state = torch.cat([state, self.augmented_path(s)], dim=1)
        predicted = self.vf(t[0] + s * duration, state) * duration
        return (predicted - velocity).pow(2).sum(1).mean()
