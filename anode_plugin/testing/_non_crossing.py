"""Non-crossing: a 1-D flow keeps the order of its inputs at every saved time."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._model import AugmentedNeuralODE
from ._check_args import _check_batch, _check_model, _check_tolerance, _fmt, _model_times

__all__ = ["assert_non_crossing"]


def assert_non_crossing(
    model: AugmentedNeuralODE,
    x: Tensor,
    *,
    t_span: Sequence[float] | Tensor | None = None,
    min_distance: float | None = None,
) -> None:
    """Check that no two trajectories cross or meet at any saved time.

    ODE trajectories never intersect (the paper's Proposition 1), so for 1-D states the
    flow preserves order: ``x_i < x_j`` implies ``z_i(t) < z_j(t)`` at every time. In any
    dimension, two trajectories starting at distinct inputs stay apart, so the features of
    distinct inputs are distinct.

    Inputs closer than ``sqrt(eps)`` of their dtype (times their scale) are taken as the
    same point and not compared.

    Args:
        model: the model under test.
        x: inputs in the original space, ``[batch, d, ...]``.
        t_span: the saved times at which trajectories are compared; defaults to the
            model's ``t_span``. With a fixed-step solver these times are also its grid.
        min_distance: two trajectories "meet" when their states come closer than this.
            Defaults to ``sqrt(eps)`` of the dtype (1.5e-8 in float64, 3.5e-4 in float32)
            times the distance between the pair's own inputs: a collapse that a flow over
            a unit time reaches only with a Lipschitz constant near 18 (float64).

    Raises:
        AssertionError: naming the crossing (or meeting) pair, their inputs, the time and
            their states there.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    model = _check_model("assert_non_crossing", model)
    x = _check_batch("x", x)
    if min_distance is not None:
        min_distance = _check_tolerance("min_distance", min_distance)
    times = _model_times(model, t_span)
    with torch.no_grad(), model.uncounted():
        states = model.trajectory(x, times)  # [T, batch, d + p, ...]
    times = times.to(states.dtype)
    n = x.shape[0]
    if n < 2:
        return
    flat_x = x.detach().reshape(n, -1).to(states.dtype)
    flat_z = states.detach().reshape(states.shape[0], n, -1)
    d0 = torch.cdist(flat_x, flat_x)
    eps = torch.finfo(states.dtype).eps
    ratio_floor = eps**0.5
    coincident = ratio_floor * max(1.0, float(flat_x.abs().max()))
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device), diagonal=1)
    pairs = upper & (d0 > coincident)
    if not bool(pairs.any()):
        return

    if flat_z.shape[2] == 1:
        _check_order(flat_x[:, 0], flat_z[:, :, 0], times, pairs)
    distance = torch.cdist(flat_z, flat_z)  # [T, batch, batch]
    threshold = d0 * ratio_floor if min_distance is None else torch.full_like(d0, min_distance)
    met = (distance < threshold) & pairs
    if not bool(met.any()):
        return
    ratio = torch.where(met, distance / d0.clamp_min(eps), torch.full_like(distance, torch.inf))
    k, i, j = (int(v) for v in torch.unravel_index(ratio.argmin(), ratio.shape))
    rule = (
        f"min_distance={min_distance:g}"
        if min_distance is not None
        else f"{ratio_floor:.3g} x their input distance {_fmt(float(d0[i, j]))}"
    )
    raise AssertionError(
        f"Trajectories meet: distinct inputs x[{i}] and x[{j}] come within "
        f"{_fmt(float(distance[k, i, j]))} of each other at t={_fmt(float(times[k]))} "
        f"(closer than {rule}).\n"
        f"  x[{i}] = {_fmt(x[i])}  ->  z(t) = {_fmt(states[k, i])}\n"
        f"  x[{j}] = {_fmt(x[j])}  ->  z(t) = {_fmt(states[k, j])}\n"
        f"{int(met.any(dim=0).sum())} pair(s) meet. The flow of an ODE keeps distinct inputs "
        "apart; a discretised flow (fixed-step solver with large steps) does not."
    )


def _check_order(x: Tensor, z: Tensor, times: Tensor, pairs: Tensor) -> None:
    """1-D states: ``x_i < x_j`` must give ``z_i(t) < z_j(t)`` at every saved time."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    below = x[:, None] < x[None, :]  # [batch, batch]: x_i < x_j
    # Compare every pair in input order: (lo, hi) with x_lo < x_hi.
    lo_first = pairs & below
    hi_first = pairs & ~below
    ordered = lo_first | hi_first.T
    z_lo_ge_hi = z[:, :, None] >= z[:, None, :]  # [T, batch, batch]: z_i >= z_j
    crossed = z_lo_ge_hi & ordered
    if not bool(crossed.any()):
        return
    k, lo, hi = (int(v) for v in crossed.nonzero()[0])
    verb = "meet" if bool(z[k, lo] == z[k, hi]) else "cross"
    raise AssertionError(
        f"Trajectories {verb}: x[{lo}] = {_fmt(x[lo])} < x[{hi}] = {_fmt(x[hi])}, but at "
        f"t={_fmt(float(times[k]))} their states are {_fmt(z[k, lo])} >= {_fmt(z[k, hi])}.\n"
        f"  trajectory of x[{lo}]: {_fmt(z[:, lo])}\n"
        f"  trajectory of x[{hi}]: {_fmt(z[:, hi])}\n"
        f"  at times {_fmt(times)}\n"
        f"{int(crossed.any(dim=0).sum())} pair(s) cross or meet. A 1-D ODE flow preserves "
        "order (trajectories cannot cross); a discretised flow such as a ResNet or a "
        "fixed-step solver with large steps can (the paper's Figure 3)."
    )
