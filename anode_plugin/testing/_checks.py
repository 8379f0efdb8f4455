"""Property checks for a model's flow: each raises ``AssertionError`` with the offending inputs.

The mathematics of a Neural ODE gives properties any vector field must satisfy: its flow is
a homeomorphism (invertible, trajectories never cross or meet, distinct inputs keep
distinct features) and augmentation must round-trip. A discretised flow (a ResNet, or an
ODE solved with a step far too large) breaks them, which is what these checks catch.
"""

from __future__ import annotations

from torch import Tensor

from .._model import AugmentedNeuralODE
from ._check_args import _check_model
from ._invertibility import assert_invertible
from ._nfe_check import assert_nfe_consistent
from ._non_crossing import assert_non_crossing
from ._roundtrip import assert_augmentation_roundtrip

__all__ = ["assert_flow_properties"]


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
