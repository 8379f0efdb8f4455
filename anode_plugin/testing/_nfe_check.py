"""NFE consistency: the model's NFE record equals an independent count of the field's calls."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._model import AugmentedNeuralODE
from .._nfe import NFERecord
from ._check_args import _check_batch, _check_model, _fmt

__all__ = ["assert_nfe_consistent"]


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
