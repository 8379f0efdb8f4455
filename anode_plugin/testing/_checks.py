"""Property checks for a model's flow: each raises ``AssertionError`` with the offending inputs.

The mathematics of a Neural ODE gives properties any vector field must satisfy: its flow is
a homeomorphism (invertible, trajectories never cross or meet, distinct inputs keep
distinct features) and augmentation must round-trip. A discretised flow (a ResNet, or an
ODE solved with a step far too large) breaks them, which is what these checks catch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._model import AugmentedNeuralODE
from .._nfe import NFERecord

__all__ = [
    "assert_augmentation_roundtrip",
    "assert_flow_properties",
    "assert_invertible",
    "assert_nfe_consistent",
    "assert_non_crossing",
]

_MAX_SHOWN = 6  # entries of a tensor shown in a message


def _fmt(value: Tensor | float) -> str:
    """A short, readable rendering of a tensor (or number) for failure messages."""
    if not isinstance(value, Tensor):
        return f"{value:.6g}"
    flat = value.detach().reshape(-1).tolist()
    shown = ", ".join(f"{v:.6g}" for v in flat[:_MAX_SHOWN])
    more = f", ... ({len(flat)} values)" if len(flat) > _MAX_SHOWN else ""
    if value.ndim == 0:
        return shown
    return f"[{shown}{more}]"


def _check_batch(name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(
            f"`{name}` must be a batch [batch, d, ...] with at least one sample, got shape "
            f"{tuple(x.shape)}."
        )
    return x


def _check_tolerance(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    return float(value)


def _check_model(check: str, model: object) -> AugmentedNeuralODE:
    if not isinstance(model, AugmentedNeuralODE):
        raise TypeError(
            f"`{check}` takes an anode_plugin.AugmentedNeuralODE (it uses its features, "
            f"inverse, trajectory and nfe), got {type(model).__name__}. Wrap your vector "
            "field in one: `AugmentedNeuralODE(field, augment_dims=p)`; a plain torchdyn "
            "NeuralODE or a discrete model such as ResNet has no inverse to check."
        )
    return model


def _model_times(model: AugmentedNeuralODE, t_span: Sequence[float] | Tensor | None) -> Tensor:
    return model.t_span if t_span is None else torch.as_tensor(t_span, dtype=torch.float64)


# ---------------------------------------------------------------------------- invertibility
def assert_invertible(
    model: AugmentedNeuralODE,
    x: Tensor,
    *,
    atol: float = 1e-5,
    rtol: float = 0.0,
    t_span: Sequence[float] | Tensor | None = None,
) -> None:
    """Check that ``model.inverse(model.features(x))`` gives back ``x``.

    The flow of an ODE is invertible: integrating the features backwards in time recovers
    the inputs, up to the solver's error. The whole augmented state must come back too
    (``augmenter(x)``: the zeros, the learned entries, or a second-order model's
    ``[x, 0, v(0)]``), not only ``x``. Use float64 and tight solver tolerances for a
    small ``atol``.

    Args:
        model: the model under test.
        x: inputs in the original space, ``[batch, d, ...]``.
        atol: absolute tolerance on the reconstruction.
        rtol: relative tolerance on the reconstruction.
        t_span: integration times; defaults to the model's.

    Raises:
        AssertionError: naming the worst sample, its input, features and reconstruction.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    model = _check_model("assert_invertible", model)
    x = _check_batch("x", x)
    atol, rtol = _check_tolerance("atol", atol), _check_tolerance("rtol", rtol)
    with torch.no_grad(), model.uncounted():
        features = model.features(x, t_span)
        recovered = model.inverse(features, t_span)
        lifted = model.augmenter(x)
        times = _model_times(model, t_span).to(features.dtype).flip(0)
        _, back = model.odeint(features, times)
    if recovered.shape != x.shape:
        raise AssertionError(
            f"inverse(features(x)) has shape {tuple(recovered.shape)}, x has shape "
            f"{tuple(x.shape)}: the inverse does not strip the augmentation."
        )
    error = (recovered - x).abs()
    allowed = atol + rtol * x.abs()
    bad = ~(error <= allowed)  # also catches NaN
    if not bool(bad.any()):
        _check_lifted_inverse(lifted, back[-1], atol, rtol)  # x is back: is the rest?
        return
    per_sample = error.reshape(x.shape[0], -1).nan_to_num(float("inf")).amax(dim=1)
    worst = int(per_sample.argmax())
    raise AssertionError(
        f"The flow is not invertible within atol={atol:g}, rtol={rtol:g}: "
        f"inverse(features(x)) differs from x by up to {_fmt(float(per_sample[worst]))} "
        f"({int(bad.reshape(x.shape[0], -1).any(dim=1).sum())} of {x.shape[0]} samples off).\n"
        f"  worst sample: x[{worst}] = {_fmt(x[worst])}\n"
        f"  features(x[{worst}]) = {_fmt(features[worst])}\n"
        f"  inverse(features(x[{worst}])) = {_fmt(recovered[worst])}\n"
        "A discretised flow (fixed-step solver with large steps) is not invertible by "
        "integrating backwards; otherwise tighten the solver tolerances or use float64."
    )


def _check_lifted_inverse(lifted: Tensor, back: Tensor, atol: float, rtol: float) -> None:
    """The augmented initial state against the features integrated back to the start."""
    error = (back - lifted).abs()
    if bool((error <= atol + rtol * lifted.abs()).all()):
        return
    per_sample = error.reshape(lifted.shape[0], -1).nan_to_num(float("inf")).amax(dim=1)
    worst = int(per_sample.argmax())
    raise AssertionError(
        f"The flow is not invertible in the augmented space within atol={atol:g}, "
        f"rtol={rtol:g}: the features integrated back differ from augmenter(x) by up to "
        f"{_fmt(float(per_sample[worst]))}.\n"
        f"  augmenter(x)[{worst}] = {_fmt(lifted[worst])}\n"
        f"  integrated back: {_fmt(back[worst])}"
    )


# ---------------------------------------------------------------------------- non-crossing
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


# ---------------------------------------------------------------------------- augmentation
def assert_augmentation_roundtrip(augmenter: nn.Module, x: Tensor) -> None:
    """Check that ``augmenter.strip(augmenter(x))`` equals ``x`` exactly.

    Also checks that the augmented tensor keeps ``x``'s dtype and device, grows by
    ``augment_dims`` along ``augment_idx`` (by what its ``augmented_size`` says, for the
    input-layer and second-order kinds) and, without an ``augment_func``, adds zeros
    (the position's zeros for a second-order state ``[x, 0, v]``).

    Args:
        augmenter: an :class:`anode_plugin.Augmenter` (anything with ``strip``), e.g. a
            model's ``augmenter`` of any ``augmentation`` kind.
        x: a tensor to augment, ``[batch, d, ...]``.

    Raises:
        AssertionError: naming what differs and the offending entries.
        TypeError: if ``augmenter`` has no ``strip`` method.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    x = _check_batch("x", x)
    if not callable(getattr(augmenter, "strip", None)):
        raise TypeError(
            f"`augmenter` must have a `strip` method (an anode_plugin.Augmenter), got "
            f"{type(augmenter).__name__}."
        )
    z = augmenter(x)
    if z.dtype != x.dtype or z.device != x.device:
        raise AssertionError(
            f"Augmentation changed dtype/device: x is {x.dtype} on {x.device}, augmenter(x) "
            f"is {z.dtype} on {z.device}."
        )
    dim = getattr(augmenter, "augment_idx", 1) % x.ndim
    dims = getattr(augmenter, "augment_dims", None)
    func = getattr(augmenter, "augment_func", None)
    expected = list(x.shape)
    sized = getattr(augmenter, "augmented_size", None)
    if callable(sized) or (func is None and dims is not None):
        expected[dim] = sized(x.shape[dim]) if callable(sized) else expected[dim] + dims
        if list(z.shape) != expected:
            raise AssertionError(
                f"augmenter(x) has shape {tuple(z.shape)}, expected {tuple(expected)} "
                f"(x of shape {tuple(x.shape)}, augment_dims={dims} along dimension {dim})."
            )
    stripped = augmenter.strip(z)
    if stripped.shape != x.shape:
        raise AssertionError(
            f"strip(augmenter(x)) has shape {tuple(stripped.shape)}, x has shape "
            f"{tuple(x.shape)}; augmenter(x) had shape {tuple(z.shape)}."
        )
    differs = stripped != x
    if bool(differs.any()):
        index = tuple(int(v) for v in differs.nonzero()[0])
        raise AssertionError(
            f"strip(augmenter(x)) differs from x at {int(differs.sum())} entries; first at "
            f"index {index}: {_fmt(float(stripped[index]))} instead of {_fmt(float(x[index]))}.\n"
            f"  x[{index[0]}] = {_fmt(x[index[0]])}\n"
            f"  augmenter(x)[{index[0]}] = {_fmt(z[index[0]])}\n"
            f"  strip(augmenter(x))[{index[0]}] = {_fmt(stripped[index[0]])}"
        )
    if func is None and dims:
        order = getattr(augmenter, "order", "last")
        start = 0 if order == "first" else x.shape[dim]
        extra = z.narrow(dim, start, dims)
        if bool((extra != 0).any()):
            raise AssertionError(
                f"The augmented part of augmenter(x) is not zero (order={order!r}): {_fmt(extra)}."
            )


# ---------------------------------------------------------------------------- NFE
class _CallCounter:
    """Counts calls of a user's vector field, outside the model's own accounting."""

    def __init__(self) -> None:
        self.calls = 0

    def hook(self, *_: Any) -> None:
        self.calls += 1

    def wrap(self, field: Callable[..., Tensor]) -> Callable[..., Tensor]:
        # functools.wraps keeps the signature the model reads to decide how to call it.
        @functools.wraps(field)
        def counted(*args: Any, **kwargs: Any) -> Tensor:
            self.calls += 1
            return field(*args, **kwargs)

        return counted


def assert_nfe_consistent(model: AugmentedNeuralODE, x: Tensor) -> None:
    """Check that ``model.nfe`` equals an independent count, forward and backward.

    The user's vector field is counted the classic way while the check runs (a forward
    pre-hook on a module, a counting wrapper around a plain callable), through one
    forward pass and, when anything requires gradients, one backward pass. Gradients go
    to a copy of ``x``: the parameters' ``.grad`` are left as they were, and so are the
    model's NFE counts (the check runs inside ``model.uncounted()``).

    Args:
        model: the model under test.
        x: inputs in the original space, ``[batch, d, ...]``.

    Raises:
        AssertionError: giving the model's figures and the independent count.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    model = _check_model("assert_nfe_consistent", model)
    x = _check_batch("x", x)
    counter = _CallCounter()
    field = model.vector_field
    if isinstance(field, nn.Module):
        handle = field.register_forward_pre_hook(counter.hook)
        restore = handle.remove
    else:
        wrapped = model.vf  # the model's FieldCall, which calls `.field`
        wrapped.field = counter.wrap(field)

        def restore() -> None:
            wrapped.field = field

    with model.uncounted():
        try:
            leaf = x.detach().clone().requires_grad_(True)
            start = model.nfe
            features = model.features(leaf)
            forward = counter.calls
            after_forward = model.nfe - start
            counter.calls = 0
            backward = 0
            if features.requires_grad:
                torch.autograd.grad(features.square().sum(), leaf)
                backward = counter.calls
            after_backward = model.nfe - start
        finally:
            restore()
    expected_forward = NFERecord(forward, 0)
    expected = NFERecord(forward, backward)
    if after_forward != expected_forward or after_backward != expected:
        raise AssertionError(
            "model.nfe disagrees with an independent count of vector-field calls:\n"
            f"  after forward:  model says {after_forward}, counted {expected_forward}\n"
            f"  after backward: model says {after_backward}, counted {expected}\n"
            f"  on x of shape {tuple(x.shape)}, x[0] = {_fmt(x[0])}"
        )
    if forward == 0:
        raise AssertionError(
            "The vector field was never called during the forward pass; the solve did not "
            "evaluate it."
        )


# ---------------------------------------------------------------------------- all together
def assert_flow_properties(
    model: AugmentedNeuralODE,
    x: Tensor,
    *,
    atol: float = 1e-5,
    invertible: bool = True,
    non_crossing: bool = True,
    roundtrip: bool = True,
    nfe: bool = True,
) -> None:
    """Run every check on ``model`` and inputs ``x``; the first failure is raised.

    Args:
        model: the model under test.
        x: inputs in the original space, ``[batch, d, ...]``.
        atol: tolerance of the invertibility check.
        invertible: run :func:`assert_invertible`.
        non_crossing: run :func:`assert_non_crossing`.
        roundtrip: run :func:`assert_augmentation_roundtrip` on ``model.augmenter``.
        nfe: run :func:`assert_nfe_consistent`.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    model = _check_model("assert_flow_properties", model)
    if roundtrip:
        assert_augmentation_roundtrip(model.augmenter, x)
    if non_crossing:
        assert_non_crossing(model, x)
    if invertible:
        assert_invertible(model, x, atol=atol)
    if nfe:
        assert_nfe_consistent(model, x)
