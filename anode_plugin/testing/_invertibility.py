"""Invertibility: ``inverse(features(x))`` returns ``x``, and the lifted state round-trips."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._model import AugmentedNeuralODE
from ._check_args import _check_batch, _check_model, _check_tolerance, _fmt, _model_times

__all__ = ["assert_invertible"]


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
    largest, worst = _worst_sample(error)
    raise AssertionError(
        f"The flow is not invertible within atol={atol:g}, rtol={rtol:g}: "
        f"inverse(features(x)) differs from x by up to {_fmt(largest)} "
        f"({int(bad.reshape(x.shape[0], -1).any(dim=1).sum())} of {x.shape[0]} samples off).\n"
        f"  worst sample: x[{worst}] = {_fmt(x[worst])}\n"
        f"  features(x[{worst}]) = {_fmt(features[worst])}\n"
        f"  inverse(features(x[{worst}])) = {_fmt(recovered[worst])}\n"
        "A discretised flow (fixed-step solver with large steps) is not invertible by "
        "integrating backwards; otherwise tighten the solver tolerances or use float64."
    )


def _worst_sample(error: Tensor) -> tuple[float, int]:
    """The largest error of any sample and that sample's index (NaN counts as infinite)."""
    per_sample = error.reshape(error.shape[0], -1).nan_to_num(float("inf")).amax(dim=1)
    worst = int(per_sample.argmax())
    return float(per_sample[worst]), worst


def _check_lifted_inverse(lifted: Tensor, back: Tensor, atol: float, rtol: float) -> None:
    """The augmented initial state against the features integrated back to the start."""
    error = (back - lifted).abs()
    if bool((error <= atol + rtol * lifted.abs()).all()):
        return
    largest, worst = _worst_sample(error)
    raise AssertionError(
        f"The flow is not invertible in the augmented space within atol={atol:g}, "
        f"rtol={rtol:g}: the features integrated back differ from augmenter(x) by up to "
        f"{_fmt(largest)}.\n"
        f"  augmenter(x)[{worst}] = {_fmt(lifted[worst])}\n"
        f"  integrated back: {_fmt(back[worst])}"
    )
